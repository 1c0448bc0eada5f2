//! Content: shared once to the platform by a coalition whose website is connected, withdrawn once shared.
use super::{AggregateState, Context, FactsNeeded, Rule, coalition_takes_part};
use crate::event::{ContentShared, ContentWithdrawn, business_date, reason, text};
use crate::{Aggregate, DomainError};

impl Rule for ContentShared {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.shared_on", self.shared_on)?;
        text("payload.title", &self.title, 300)
    }

    /// The coalition, whose website must be connected (no organisation takes part).
    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::coalition(&self.coalition_id)
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, ctx: &Context) -> Result<(), DomainError> {
        match state {
            AggregateState::Content(Some(_)) => {
                Err(DomainError::rule("content.shared_once", format!("{aggregate} is already shared")))
            }
            AggregateState::Content(None) => {
                coalition_takes_part(ctx, &self.coalition_id)?;
                match &ctx.coalition {
                    Some(c) if c.website_connected => Ok(()),
                    _ => Err(DomainError::rule(
                        "content.requires_connected_website",
                        format!("coalition {} has no website connected to the platform", self.coalition_id),
                    )),
                }
            }
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Content(c) = state {
            *c = Some(false);
        }
    }
}

impl Rule for ContentWithdrawn {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.withdrawn_on", self.withdrawn_on)?;
        reason(&self.reason)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        match state {
            AggregateState::Content(c) if *c != Some(false) => Err(DomainError::rule(
                "content.withdraw_shared",
                format!("{aggregate} is {}", if c.is_some() { "already withdrawn" } else { "not shared" }),
            )),
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Content(c) = state {
            *c = Some(true);
        }
    }
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // `&[e.clone()]` reads as "given this one event"
mod tests {
    use time::macros::date;

    use super::super::testing::{ctx_with, given_one as given_when, rule_of, sweden, tok};
    use super::*;
    use crate::AggregateType;
    use crate::event::*;

    #[test]
    fn only_connected_coalitions_share_content_and_only_shared_content_is_withdrawn() {
        let agg = Aggregate::parse(AggregateType::Content, "n1").unwrap();
        let shared = EventKind::ContentShared(ContentShared {
            coalition_id: tok("se"),
            content_type: ContentType::GoodPractice,
            title: "Teachers' network".into(),
            shared_on: date!(2021 - 7 - 1),
        });
        let withdrawn =
            EventKind::ContentWithdrawn(ContentWithdrawn { withdrawn_on: date!(2021 - 8 - 1), reason: "x".into() });
        let connected = ctx_with(|c| c.website_connected = true);
        assert_eq!(given_when(agg.clone(), &[], shared.clone(), &connected), Ok(()));
        assert_eq!(
            rule_of(given_when(agg.clone(), &[], shared.clone(), &sweden())),
            "content.requires_connected_website"
        );
        assert_eq!(
            rule_of(given_when(agg.clone(), &[shared.clone()], shared.clone(), &connected)),
            "content.shared_once"
        );
        assert_eq!(given_when(agg.clone(), &[shared.clone()], withdrawn.clone(), &connected), Ok(()));
        assert_eq!(rule_of(given_when(agg.clone(), &[], withdrawn.clone(), &connected)), "content.withdraw_shared");
        assert_eq!(
            rule_of(given_when(agg, &[shared, withdrawn.clone()], withdrawn, &connected)),
            "content.withdraw_shared"
        );
    }
}

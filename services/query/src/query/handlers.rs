//! The `LedgerQuery` gRPC methods: each names its report (view, columns, filters) and maps its rows.
use ledger_proto::convert::timestamp_from_domain;
use ledger_proto::v1;
use ledger_proto::v1::ledger_query_server::LedgerQuery;
use tokio_postgres::types::ToSql;
use tonic::{Request, Response, Status};

use super::QueryService;
use super::as_of::Answered;
use super::error::QueryError;
use super::filter::{Filter, Param, parse_as_of};
use super::report::*;
use ledger_readmodel::reports;

#[tonic::async_trait]
impl LedgerQuery for QueryService {
    #[tracing::instrument(skip_all)]
    async fn coalition_growth(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::CoalitionGrowthResponse>, Status> {
        let report = &reports::COALITION_GROWTH;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::MonthlyGrowth {
                coalition_id: r.get(0),
                month: month(r, 1),
                joins: r.get(2),
                leaves: r.get(3),
                net: r.get(4),
                cumulative: r.get(5),
            })
            .await?;
        Ok(Response::new(v1::CoalitionGrowthResponse {
            months: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn members_by_type(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::MembersByTypeResponse>, Status> {
        let report = &reports::MEMBERS_BY_TYPE;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::TypeGrowth {
                coalition_id: r.get(0),
                month: month(r, 1),
                organisation_type: r.get(2),
                size: r.get(3),
                joins: r.get(4),
                leaves: r.get(5),
                net: r.get(6),
            })
            .await?;
        Ok(Response::new(v1::MembersByTypeResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn current_members(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::CurrentMembersResponse>, Status> {
        let report = &reports::CURRENT_MEMBERS;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::CoalitionMembers {
                coalition_id: r.get(0),
                name: r.get(1),
                country: TEXT(r, 2),
                members: r.get(3),
                kind: r.get(4),
                launched_on: DATE(r, 5),
                website_url: TEXT(r, 6),
                connected_on: DATE(r, 7),
                deactivated_on: DATE(r, 8),
            })
            .await?;
        Ok(Response::new(v1::CurrentMembersResponse {
            coalitions: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn national_coalitions(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::NationalCoalitionsResponse>, Status> {
        let report = &reports::NATIONAL_COALITIONS;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::NationalMonth {
                month: month(r, 0),
                national_coalitions: r.get(1),
                connected_sites: r.get(2),
            })
            .await?;
        Ok(Response::new(v1::NationalCoalitionsResponse {
            months: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn pledge_pipeline(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::PledgePipelineResponse>, Status> {
        let report = &reports::PLEDGE_PIPELINE;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::PipelineRow {
                coalition_id: r.get(0),
                status: r.get(1),
                pledges: r.get(2),
            })
            .await?;
        Ok(Response::new(v1::PledgePipelineResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn pledge_scoreboard(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::PledgeScoreboardResponse>, Status> {
        let report = &reports::PLEDGE_SCOREBOARD;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::ScoreboardRow {
                pledge_id: r.get(0),
                organisation_id: r.get(1),
                coalition_id: r.get(2),
                title: r.get(3),
                status: r.get(4),
                indicator: r.get(5),
                target: r.get(6),
                achieved: r.get(7),
                pct_attained: F64(r, 8),
                last_report_on: DATE(r, 9),
                corrections: r.get(10),
            })
            .await?;
        Ok(Response::new(v1::PledgeScoreboardResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn organisation_scoreboard(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::OrganisationScoreboardResponse>, Status> {
        let report = &reports::ORGANISATION_SCOREBOARD;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::OrganisationScoreRow {
                organisation_id: r.get(0),
                name: TEXT(r, 1),
                indicator: r.get(2),
                pledges: r.get(3),
                target: r.get(4),
                achieved: r.get(5),
                pct_attained: F64(r, 6),
                last_report_on: DATE(r, 7),
                corrections: r.get(8),
            })
            .await?;
        Ok(Response::new(v1::OrganisationScoreboardResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn outcomes(&self, request: Request<v1::ReportRequest>) -> Result<Response<v1::OutcomesResponse>, Status> {
        let report = &reports::OUTCOMES;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::OutcomeRow {
                year: r.get(0),
                pillar: r.get(1),
                country: r.get(2),
                indicator: r.get(3),
                amount: r.get(4),
                people: r.get(5),
                women: r.get(6),
                women_share: F64(r, 7),
                coalition_id: r.get(8),
            })
            .await?;
        Ok(Response::new(v1::OutcomesResponse { rows: page.rows, position, next_offset: page.next_offset, as_of_log }))
    }

    #[tracing::instrument(skip_all)]
    async fn participation(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ParticipationResponse>, Status> {
        let report = &reports::PARTICIPATION;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::ParticipationRow {
                quarter: quarter(r, 0),
                coalition_id: r.get(1),
                pillar: r.get(2),
                source: r.get(3),
                held: r.get(4),
                participants: r.get(5),
                completed: r.get(6),
                certified: r.get(7),
                women: r.get(8),
                women_share: F64(r, 9),
            })
            .await?;
        Ok(Response::new(v1::ParticipationResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn content_shared(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ContentSharedResponse>, Status> {
        let report = &reports::CONTENT_SHARED;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::ContentRow {
                coalition_id: r.get(0),
                quarter: quarter(r, 1),
                content_type: r.get(2),
                shared: r.get(3),
                withdrawn: r.get(4),
            })
            .await?;
        Ok(Response::new(v1::ContentSharedResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn dormant_members(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::DormantMembersResponse>, Status> {
        let scope = read_scope(&request)?;
        let req = request.get_ref();
        parse_as_of(&req.as_of, time::OffsetDateTime::now_utc().date())?;
        let filter = Filter::parse(req)?;
        let report = &reports::DORMANT_MEMBERS;
        // $1 and $2, the reference date and the day a year before, are set once the source is known.
        let mut params: Vec<Param> = vec![Box::new(time::Date::MIN), Box::new(time::Date::MIN)];
        let conds = filter.conditions(report, &scope, &mut params)?;
        let source = self.source(&request, report).await?;
        let (as_of, year_before) = parse_as_of(&req.as_of, source.today())?;
        (params[0], params[1]) = (Box::new(as_of), Box::new(year_before));
        let views = source.views();
        // Members since at least a year with nothing recorded in the year up to `as_of`.
        let dormant = format!(
            "FROM {views}.member_engagement m
             WHERE m.joined_on <= $2 AND NOT EXISTS (
                 SELECT 1 FROM {views}.organisation_engagement_days d
                 WHERE d.organisation_id = m.organisation_id AND d.coalition_id = m.coalition_id
                   AND d.engaged_on > $2 AND d.engaged_on <= $1)
               AND {conds}"
        );
        let (limit, offset) = (filter.limit, filter.offset);
        let ((rows, total), Answered { position, as_of_log }) = self
            .answer(&source, report.read_model, req.consistency.as_ref(), async |tx| {
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
                let total: i64 = tx.query_one(&format!("SELECT count(*) {dormant}"), &refs).await?.get(0);
                let rows = tx
                    .query(
                        &format!(
                            "SELECT m.coalition_id, m.organisation_id, m.name, m.country, m.joined_on,
                                    (SELECT max(d.engaged_on) FROM {views}.organisation_engagement_days d
                                     WHERE d.organisation_id = m.organisation_id AND d.coalition_id = m.coalition_id
                                       AND d.engaged_on <= $1)
                             {dormant} ORDER BY m.coalition_id, m.organisation_id LIMIT {limit} OFFSET {offset}"
                        ),
                        &refs,
                    )
                    .await?;
                let rows = rows
                    .iter()
                    .map(|r| v1::DormantRow {
                        coalition_id: r.get(0),
                        organisation_id: r.get(1),
                        name: TEXT(r, 2),
                        country: TEXT(r, 3),
                        joined_on: DATE(r, 4),
                        last_engaged_on: DATE(r, 5),
                    })
                    .collect::<Vec<_>>();
                Ok((rows, total))
            })
            .await?;
        let total = u64::try_from(total).unwrap_or(0);
        let next_offset = if (offset + limit) as u64 >= total { 0 } else { (offset + limit) as u64 };
        Ok(Response::new(v1::DormantMembersResponse {
            rows,
            position,
            next_offset,
            total,
            as_of: as_of.to_string(),
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn digital_decade_targets(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::DigitalDecadeTargetsResponse>, Status> {
        let report = &reports::DIGITAL_DECADE_TARGETS;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::TargetRow {
                code: r.get(0),
                description: r.get(1),
                unit: r.get(2),
                target_value: F64(r, 3),
                target_year: r.get(4),
                latest_value: F64(r, 5),
                latest_year: r.get(6),
                earlier_value: F64(r, 7),
                earlier_year: r.get::<_, Option<i32>>(8).unwrap_or(0),
            })
            .await?;
        Ok(Response::new(v1::DigitalDecadeTargetsResponse {
            targets: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn programme_overview(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ProgrammeOverviewResponse>, Status> {
        let report = &reports::PROGRAMME_OVERVIEW;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::ProgrammeRow {
                programme_id: r.get(0),
                coalition_id: r.get(1),
                country: r.get(2),
                name: r.get(3),
                owner: r.get(4),
                launched_on: DATE(r, 5),
                ended_on: DATE(r, 6),
                priority_areas: r.get(7),
                working_groups: r.get(8),
                open_groups: r.get(9),
                members: r.get(10),
                participants: r.get(11),
                meetings: r.get(12),
                anchored_meetings: r.get(13),
                anchoring_rate: F64(r, 14),
                deliverables: r.get(15),
            })
            .await?;
        Ok(Response::new(v1::ProgrammeOverviewResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn programme_members_by_sector(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ProgrammeMembersBySectorResponse>, Status> {
        let report = &reports::PROGRAMME_MEMBERS_BY_SECTOR;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::SectorRow {
                programme_id: r.get(0),
                sector: r.get(1),
                members: r.get(2),
                appointed: r.get(3),
            })
            .await?;
        Ok(Response::new(v1::ProgrammeMembersBySectorResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn working_groups_quarterly(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::WorkingGroupsQuarterlyResponse>, Status> {
        let report = &reports::WORKING_GROUPS_QUARTERLY;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::WorkingGroupQuarter {
                programme_id: r.get(0),
                group_id: r.get(1),
                area_id: r.get(2),
                quarter: quarter(r, 3),
                joins: r.get(4),
                leaves: r.get(5),
                participants: r.get(6),
                meetings: r.get(7),
                anchored: r.get(8),
                present: r.get(9),
                deliverables: r.get(10),
            })
            .await?;
        Ok(Response::new(v1::WorkingGroupsQuarterlyResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn partnership_group(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::PartnershipGroupResponse>, Status> {
        let report = &reports::PARTNERSHIP_GROUP;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::PartnershipMemberRow {
                programme_id: r.get(0),
                member_id: r.get(1),
                name: r.get(2),
                organisation: r.get(3),
                sector: r.get(4),
                role: r.get(5),
                appointed_on: DATE(r, 6),
                left_on: DATE(r, 7),
            })
            .await?;
        Ok(Response::new(v1::PartnershipGroupResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            // The date the rows are of: for an answer as of the log, its day unless `as_of` names one.
            as_of: page.on.map(|d| d.to_string()).unwrap_or_default(),
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn national_coordinators(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::NationalCoordinatorsResponse>, Status> {
        let report = &reports::NATIONAL_COORDINATORS;
        let (page, Answered { position, as_of_log }) = self
            .report(report, &request, |r| v1::CoordinatorRow {
                country: r.get(0),
                coalition_id: TEXT(r, 1),
                name: r.get(2),
                body: r.get(3),
                from_on: DATE(r, 4),
                until_on: DATE(r, 5),
            })
            .await?;
        Ok(Response::new(v1::NationalCoordinatorsResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
            as_of_log,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn projection_status(
        &self,
        request: Request<v1::ProjectionStatusRequest>,
    ) -> Result<Response<v1::ProjectionStatusResponse>, Status> {
        // Positions and states of the read models: for anyone who may read one.
        read_scope(&request)?;
        // The positions first (one statement: one snapshot of every projection), the log's end after: positions
        // only move to events already in the log, so no position in the answer is above its `log_end`.
        let mut conn = self.pool.get().await.map_err(QueryError::from)?;
        let rows = ledger_readmodel::status(conn.client()).await.map_err(|e| Status::unavailable(e.to_string()))?;
        drop(conn);
        let log_end = self.log.end().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let projections = rows
            .into_iter()
            .map(|p| v1::ProjectionState {
                lag: log_end.saturating_sub(p.position),
                name: p.name,
                position: p.position,
                quarantined: p.quarantined,
                updated_at: Some(timestamp_from_domain(p.updated_at)),
                version: p.version,
                state: p.state,
                last_error: p.last_error.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(v1::ProjectionStatusResponse { projections, log_end }))
    }
}

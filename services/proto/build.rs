//! Compiles `proto/` with protox (pure Rust, no system `protoc`) and generates tonic code plus a file descriptor
//! set for server reflection.
use std::path::PathBuf;

/// Query responses (and their rows) the dashboard serves as JSON.
const JSON_MESSAGES: &[&str] = &[
    "CoalitionGrowthResponse",
    "MonthlyGrowth",
    "MembersByTypeResponse",
    "TypeGrowth",
    "CurrentMembersResponse",
    "CoalitionMembers",
    "NationalCoalitionsResponse",
    "NationalMonth",
    "PledgePipelineResponse",
    "PipelineRow",
    "PledgeScoreboardResponse",
    "ScoreboardRow",
    "OrganisationScoreboardResponse",
    "OrganisationScoreRow",
    "OutcomesResponse",
    "OutcomeRow",
    "ParticipationResponse",
    "ParticipationRow",
    "ContentSharedResponse",
    "ContentRow",
    "DormantMembersResponse",
    "DormantRow",
    "DigitalDecadeTargetsResponse",
    "TargetRow",
    "ProgrammeOverviewResponse",
    "ProgrammeRow",
    "ProgrammeMembersBySectorResponse",
    "SectorRow",
    "WorkingGroupsQuarterlyResponse",
    "WorkingGroupQuarter",
    "PartnershipGroupResponse",
    "PartnershipMemberRow",
    "NationalCoordinatorsResponse",
    "CoordinatorRow",
    "AsOfAnswer",
    "SignedCheckpoint",
    "ProjectionStatusResponse",
    "ProjectionState",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "coalition/ledger/v1/events.proto",
        "coalition/ledger/v1/ledger.proto",
        "coalition/ledger/v1/storage.proto",
        "coalition/ledger/v1/export.proto",
    ];
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("ledger_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;
    // The query answers are also served as JSON to the web dashboard.
    // Our codec: a message that does not decode is the caller's fault (INVALID_ARGUMENT), not ours (INTERNAL).
    let mut builder =
        tonic_prost_build::configure().build_client(true).build_server(true).codec_path("crate::codec::LedgerCodec");
    for message in JSON_MESSAGES {
        builder = builder.type_attribute(format!(".coalition.ledger.v1.{message}"), "#[derive(serde::Serialize)]");
    }
    builder = builder.field_attribute(".coalition.ledger.v1.ProjectionState.updated_at", "#[serde(skip)]");
    builder = builder.field_attribute(".coalition.ledger.v1.SignedCheckpoint.signed_at", "#[serde(skip)]");
    builder.compile_fds(fds)?;
    for f in files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    Ok(())
}

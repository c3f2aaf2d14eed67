//! Tessera's pure domain: label schemas, task inputs, upload parsing and consensus.
//!
//! Nothing here does IO, async or SQL, so every rule can be unit-tested and reused by the
//! server, the client and the desktop app alike.

pub mod aggregate;
pub mod bbox;
pub mod consensus;
pub mod csv_quotes;
pub mod label_config;
pub mod schema;
pub mod span;
pub mod task;
pub mod upload;

pub use bbox::BoundingBox;
pub use consensus::{Consensus, ConsensusMethod, MajorityVote, Vote};
pub use label_config::{LabelConfigError, schema_from_label_config};
pub use schema::{
    BuiltinModel, LabelSchema, MAX_OFFLINE_QUOTA, Progress, QueueOrder, SchemaError, SchemaKind,
    SuspendedAnswers,
};
pub use span::Span;
pub use task::{EncodedTask, ImportedAnswer, ImportedReview, ParsedTask, Prediction, TaskInput};
pub use upload::{
    ExternalAnswer, LeftOut, Parsed, UploadError, UploadFormat, UploadReport, is_answers_header,
    label_studio_prediction, parse_answers_csv, parse_upload, parse_upload_from, parse_upload_with,
};

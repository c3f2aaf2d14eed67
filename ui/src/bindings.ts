// Generated from crates/api/src/desktop.rs by ts-rs. Do not edit: run
// `UPDATE_BINDINGS=1 cargo test -p tessera-api` after changing the Rust types.

export type ProjectChoice = { id: number, name: string, };

export type SessionInfo = { server: string, annotator: string, projects: Array<ProjectChoice>, 
/**
 * The project being worked on, once chosen.
 */
project_id: number | null, };

export type PredictionView = { labels: Array<string>, score: number | null, model_version: string | null, };

export type SchemaKind = "classification" | "rating" | "pairwise" | "text";

export type PairView = { a: string, b: string, };

export type TaskView = { task_id: number, 
/**
 * What kind of work the task is, from its project's schema: it picks the screen.
 */
kind: SchemaKind, 
/**
 * The text to label, the prompt of a comparison, or the text to transcribe from.
 */
text: string | null, image: string | null, 
/**
 * Pairwise tasks: the items to compare.
 */
pair: PairView | null, 
/**
 * Choices, scale points or verdicts (empty for free text).
 */
labels: Array<string>, multiple: boolean, instructions: string | null, prediction: PredictionView | null, 
/**
 * The annotator's current answer when the task is revisited for revision.
 */
answer: Array<string> | null, };

export type ReviewAnswerView = { annotator: string, labels: Array<string>, };

export type ConsensusView = { labels: Array<string>, confidence: number, };

export type ReviewView = { task: TaskView, answers: Array<ReviewAnswerView>, consensus: ConsensusView | null, };

export type SyncProgress = { pushed: number, total: number, };

export type SyncStatus = { online: boolean, 
/**
 * Answers written locally and not yet acknowledged by the server.
 */
pending: number, 
/**
 * Leased tasks not yet answered on this device.
 */
remaining: number, 
/**
 * Answers made on this device today.
 */
done_today: number, last_error: string | null, 
/**
 * Set while a sync with answers to push is under way.
 */
syncing: SyncProgress | null, };

export type CommandError = { kind: string, message: string, };

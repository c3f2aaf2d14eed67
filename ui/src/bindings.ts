// Generated from crates/api/src/desktop.rs by ts-rs. Do not edit: run
// `UPDATE_BINDINGS=1 cargo test -p tessera-api` after changing the Rust types.

export type ProjectChoice = { id: number, name: string, };

export type SessionInfo = { server: string, 
/**
 * The signed-in person's user id on that server: whose local store is open.
 */
user_id: number, annotator: string, projects: Array<ProjectChoice>, 
/**
 * The project being worked on, once chosen.
 */
project_id: number | null, 
/**
 * Signed in as a requester: the app shows the requester's dashboard.
 */
requester: boolean, };

export type PredictionView = { labels: Array<string>, score: number | null, model_version: string | null, };

export type SchemaKind = "classification" | "rating" | "pairwise" | "text" | "spans" | "boxes";

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
done_today: number, 
/**
 * Typical seconds per task today (the median gap between answers, breaks left out).
 */
seconds_per_task: number | null, last_error: string | null, 
/**
 * Set while a sync with answers to push is under way.
 */
syncing: SyncProgress | null, 
/**
 * Answers the server refused and that were not given again since.
 */
refused: number, 
/**
 * The server suspended this annotator from the chosen project: no new tasks come.
 */
suspended: boolean, };

export type RefusedView = { task_id: number, 
/**
 * The task's text (or image address), to recognise it by.
 */
text: string | null, labels: Array<string>, skipped: boolean, 
/**
 * The server's stable code, e.g. `invalid_answer`.
 */
code: string, reason: string, 
/**
 * The task is back among the open ones: answering it again may be accepted.
 */
answer_again: boolean, };

export type CommandError = { kind: string, message: string, line: number | null, column: number | null, };

export type ProjectSummary = { id: number, name: string, kind: SchemaKind, tasks: number, complete: number, answers: number, annotators: number, needs_review: number, cancelled: number, 
/**
 * Gold tasks, counted apart from `tasks`.
 */
gold: number, 
/**
 * Open tasks no one can take, and why.
 */
stuck: number, stuck_because: string | null, 
/**
 * Archived: out of annotators' sight and queue until restored.
 */
archived: boolean, };

export type PersonView = { user_id: number, name: string, 
/**
 * annotator, reviewer or requester here; none for someone who answered without being a
 * member (an open project) or was removed (their answers stay).
 */
role: string | null, 
/**
 * Invited by a requester: the token works in that requester's projects only.
 */
invited: boolean, revoked: boolean, 
/**
 * When the token last signed in (RFC 3339), if the caller may see it.
 */
last_used_at: string | null, 
/**
 * When their last answer or skip here arrived (RFC 3339).
 */
last_answer_at: string | null, answers: number, suspended: boolean, };

export type InviteView = { user_id: number, name: string, role: string, token: string, };

export type HourCount = { 
/**
 * The hour's start.
 */
hour: string, count: number, };

export type ModelRun = { version: number, trained_at: string, 
/**
 * Consensus labels it trained on.
 */
trained_on: number, seconds: number, 
/**
 * Tasks completed since the run before, each predicted before it completed by a model
 * that had not trained on it.
 */
held_out: number, 
/**
 * Of those, how many the prediction matched the consensus.
 */
correct: number, };

export type MlBackend = { id: number, project_id: number, name: string, url: string, created_at: string, 
/**
 * Whether its `/health` answered at the last check; `None` before the first.
 */
healthy: boolean | null, checked_at: string | null, 
/**
 * Why the last call to it failed, if it did.
 */
last_error: string | null, 
/**
 * The model version it last reported.
 */
model_version: string | null, 
/**
 * Whether `/setup` has accepted the project.
 */
set_up: boolean, 
/**
 * Tasks it has predicted.
 */
predictions: number, 
/**
 * Tasks waiting for its prediction (not given up on).
 */
queue: number, 
/**
 * Tasks given up on after its failures (each announced as `prediction.failed`).
 */
failed: number, 
/**
 * The webhook that sends it the project's answers (`ANNOTATION_CREATED`/`_UPDATED`).
 */
webhook_id: number | null, };

export type SecondsBucket = { 
/**
 * Answers that took more than the previous bucket's bound and at most this many seconds.
 */
up_to_seconds: number, answers: number, };

export type Forecast = { 
/**
 * Tasks still to complete (cancelled and gold apart).
 */
tasks_left: number, 
/**
 * Tasks completed per hour over the last 24 hours of work.
 */
per_hour: number, 
/**
 * When the last open task will be complete at that pace; none while nothing completes.
 */
done_by: string | null, };

export type Timeline = { 
/**
 * Each bucket's length in seconds.
 */
bucket_seconds: number, 
/**
 * Oldest first, every bucket from the first answer to the last.
 */
buckets: Array<TimelineBucket>, };

export type TimelineBucket = { 
/**
 * The bucket's start.
 */
start: string, 
/**
 * Answers given in the bucket (annotators' clocks, first revisions).
 */
answers: number, 
/**
 * The same answers by annotator id.
 */
answers_by_annotator: Record<string, number>, 
/**
 * Tasks holding all the answers first asked of them by the bucket's end.
 */
complete: number, 
/**
 * Share of agreeing answer pairs on the tasks completed in the bucket (single-choice
 * projects); none when no task completed in it.
 */
agreement: number | null, };

export type ProjectStats = { 
/**
 * Answers given in each hour (annotators' clocks, first revisions), oldest first: every
 * hour from the first answer to the last, at most the last week of them.
 */
answers_per_hour: Array<HourCount>, 
/**
 * Tasks holding all the answers first asked of them (`min_overlap`, else `overlap`) by
 * the end of each hour of `answers_per_hour`.
 */
complete_by_hour: Array<HourCount>, 
/**
 * How long answers take: seconds between an annotator's consecutive answers (breaks
 * over ten minutes left out), counted per bucket.
 */
seconds_per_answer: Array<SecondsBucket>, median_seconds: number | null, 
/**
 * Krippendorff's α (nominal) over tasks with two or more answers; absent for
 * multiple-choice and free-text projects, or before any task has two answers.
 */
krippendorff_alpha: number | null, percent_agreement: number | null, 
/**
 * Tasks the agreement figures cover.
 */
agreement_tasks: number, 
/**
 * Tasks (gold apart) by consensus label.
 */
label_counts: Record<string, number>, 
/**
 * When the open tasks will be done at the pace of the last day's work.
 */
forecast: Forecast | null, 
/**
 * The charts' time series, in buckets sized to the project's span of work.
 */
timeline: Timeline, 
/**
 * The built-in model's training runs, oldest first, each with its accuracy on tasks it
 * had not trained on (a project with `"model": "builtin"`).
 */
model_runs: Array<ModelRun>, };

export type AnnotatorSkill = { annotator_id: number, annotator: string, 
/**
 * When their last answer or skip in the project arrived.
 */
last_answer_at: string | null, 
/**
 * Tasks answered (skips excluded), gold included.
 */
answers: number, gold_answers: number, gold_correct: number, 
/**
 * `gold_correct / gold_answers`, once there is a gold answer.
 */
gold_accuracy: number | null, 
/**
 * The accuracy the gold record answered since any lift of a suspension is, with 95%
 * confidence, below (Wilson score bound).
 */
gold_accuracy_upper: number | null, 
/**
 * `gold_accuracy_upper` below the project's `suspend_below` after `gold_min_answers` gold
 * answers: leases are refused, and the answers are left out of the consensus at the next
 * re-fit unless the project's `suspended_answers` is `weigh`.
 */
suspended: boolean, 
/**
 * Median seconds between consecutive answers (device clock; breaks excluded).
 */
median_seconds: number | null, 
/**
 * Share of the annotator's answers carrying their most common label.
 */
top_label_share: number | null, 
/**
 * Share of their answers that are the task's consensus label, on tasks with a
 * consensus and two or more answers (single-choice projects).
 */
agreement: number | null, 
/**
 * The answers `agreement` compares.
 */
agreement_answers: number, 
/**
 * Their confusion matrix against the consensus: consensus label → their label → answers.
 */
confusion: Record<string, Record<string, number>>, 
/**
 * Anomalies for the requester to look at: `fast` (median time under a third of the
 * project's), `one_label` (95% or more of 20+ answers alike).
 */
flags: Array<string>, };

export type Batch = { id: number, task_count: number, 
/**
 * Higher first; 0 unless the requester set one.
 */
priority: number, created_at: string, 
/**
 * Its tasks that have the answers they want (gold apart).
 */
complete: number, 
/**
 * Its gold tasks.
 */
gold: number, };

export type ProjectDashboard = { summary: ProjectSummary, 
/**
 * The label schema as JSON, as the requester wrote it.
 */
schema: string, 
/**
 * The schema's labels, for the task browser's label filter.
 */
labels: Array<string>, stats: ProjectStats, annotators: Array<AnnotatorSkill>, 
/**
 * The project's batches, oldest first, with their priorities.
 */
batches: Array<Batch>, 
/**
 * Skips by the reason given ("" for none).
 */
skips_by_reason: Record<string, number>, 
/**
 * Tasks with a consensus, by the method that made it.
 */
consensus_by_method: Record<string, number>, };

export type UploadReport = { batch_id: number, tasks_added: number, };

export type TaskFilterView = { 
/**
 * open, complete, needs-review, stuck, gold or cancelled; none for all.
 */
status: string | null, 
/**
 * Words of the task's text (see the API's `search`).
 */
search: string | null, 
/**
 * Tasks whose consensus holds this label.
 */
label: string | null, 
/**
 * Tasks this user (id) answered.
 */
annotator: number | null, batch: number | null, 
/**
 * Tasks whose consensus confidence is at most this (0–1).
 */
max_confidence: number | null, 
/**
 * Lowest confidence first (tasks with a consensus), else upload order.
 */
lowest_confidence_first: boolean, };

export type TaskRowView = { task_id: number, 
/**
 * open, complete, needs-review, stuck, gold or cancelled.
 */
status: string, preview: string, consensus: Array<string>, confidence: number | null, answers: number, };

export type TaskPageView = { tasks: Array<TaskRowView>, next_cursor: string | null, };

export type TaskAnswerView = { annotator: string, labels: Array<string>, 
/**
 * RFC 3339.
 */
answered_at: string, unsure: boolean, 
/**
 * accepted, corrected or rejected: what they did with the prediction.
 */
prediction_verdict: string | null, };

export type TaskDetailView = { task_id: number, status: string, stuck_because: string | null, 
/**
 * The task's data as pretty JSON.
 */
data: string, prediction: Array<string>, answers: Array<TaskAnswerView>, 
/**
 * Annotators who skipped it, with their reasons.
 */
skips: Array<string>, consensus: Array<string>, confidence: number | null, review: Array<string>, };

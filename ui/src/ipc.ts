// Typed wrappers over the desktop app's Tauri commands. The types come from Rust (bindings.ts).
import { invoke } from "@tauri-apps/api/core";
import type {
  Batch,
  MlBackend,
  CommandError,
  InviteView,
  PersonView,
  ProjectDashboard,
  ProjectSummary,
  RefusedView,
  ReviewView,
  SessionInfo,
  SyncStatus,
  TaskDetailView,
  TaskFilterView,
  TaskPageView,
  TaskView,
  UploadReport,
} from "./bindings";

export function errorMessage(e: unknown): string {
  if (typeof e === "object" && e !== null && "message" in e) {
    return String((e as CommandError).message);
  }
  return String(e);
}

export const ipc = {
  restoreSession: () => invoke<SessionInfo | null>("restore_session"),
  defaultServer: () => invoke<string>("default_server"),
  signIn: (server: string, token: string) => invoke<SessionInfo>("sign_in", { server, token }),
  signOut: () => invoke<void>("sign_out"),
  chooseProject: (projectId: number) => invoke<SessionInfo>("choose_project", { projectId }),
  nextTask: () => invoke<TaskView | null>("next_task"),
  /** `rejected`: the annotator said the prediction shown was wrong (R) before answering. */
  submitAnswer: (taskId: number, labels: string[], unsure: boolean, rejected: boolean) =>
    invoke<TaskView | null>("submit_answer", { taskId, labels, unsure, rejected }),
  skipTask: (taskId: number, reason: string | null) => invoke<TaskView | null>("skip_task", { taskId, reason }),
  upcomingTasks: (limit: number) => invoke<TaskView[]>("upcoming_tasks", { limit }),
  previousTask: (before: number | null) => invoke<TaskView | null>("previous_task", { before }),
  reviewQueue: (limit: number) => invoke<ReviewView[]>("review_queue", { limit }),
  submitReview: (taskId: number, labels: string[]) => invoke<void>("submit_review", { taskId, labels }),
  dashboardProjects: () => invoke<ProjectSummary[]>("dashboard_projects"),
  projectDashboard: (projectId: number) => invoke<ProjectDashboard>("project_dashboard", { projectId }),
  createProject: (name: string, schema: string) => invoke<ProjectSummary>("create_project", { name, schema }),
  startUpload: (projectId: number, fileName: string, priority: number) =>
    invoke<number>("start_upload", { projectId, fileName, priority }),
  /** Sends raw bytes; false when the server already answered (a refused line). */
  uploadChunk: (uploadId: number, chunk: Uint8Array) =>
    invoke<boolean>("upload_chunk", chunk, { headers: { "tessera-upload": String(uploadId) } }),
  finishUpload: (uploadId: number) => invoke<UploadReport>("finish_upload", { uploadId }),
  setBatchPriority: (projectId: number, batchId: number, priority: number) =>
    invoke<Batch>("set_batch_priority", { projectId, batchId, priority }),
  /** Writes an export; `label` is "review" (the final label), "consensus" or "answers". */
  exportProject: (projectId: number, format: string, label: string | null = null) =>
    invoke<string>("export_project", { projectId, format, label }),
  /** A page of the task browser: `status` and `search` narrow it, `cursor` continues it. */
  browseTasks: (projectId: number, filter: TaskFilterView, cursor: string | null) =>
    invoke<TaskPageView>("browse_tasks", { projectId, filter, cursor }),
  cancelTasks: (projectId: number, taskIds: number[]) => invoke<number>("cancel_tasks", { projectId, taskIds }),
  prioritizeTasks: (projectId: number, taskIds: number[], priority: number) =>
    invoke<number>("prioritize_tasks", { projectId, taskIds, priority }),
  taskDetail: (projectId: number, taskId: number) => invoke<TaskDetailView>("task_detail", { projectId, taskId }),
  sendToReview: (projectId: number, taskIds: number[]) => invoke<number>("send_to_review", { projectId, taskIds }),
  projectPeople: (projectId: number) => invoke<PersonView[]>("project_people", { projectId }),
  /** A new person with a token working in this project only; the token is shown once. */
  invitePerson: (projectId: number, name: string, role: string) => invoke<InviteView>("invite_person", { projectId, name, role }),
  addMember: (projectId: number, userId: number, name: string, role: string) =>
    invoke<void>("add_member", { projectId, userId, name, role }),
  removeMember: (projectId: number, userId: number) => invoke<void>("remove_member", { projectId, userId }),
  revokePerson: (userId: number) => invoke<void>("revoke_person", { userId }),
  unsuspend: (projectId: number, userId: number) => invoke<void>("unsuspend", { projectId, userId }),
  editSchema: (projectId: number, schema: string) => invoke<void>("edit_schema", { projectId, schema }),
  refit: (projectId: number) => invoke<string>("refit", { projectId }),
  setArchived: (projectId: number, archived: boolean) => invoke<void>("set_archived", { projectId, archived }),
  deleteProject: (projectId: number) => invoke<string>("delete_project", { projectId }),
  mlBackends: (projectId: number) => invoke<MlBackend[]>("ml_backends", { projectId }),
  /** Says whether the backend answered. */
  connectMlBackend: (projectId: number, url: string, name: string) =>
    invoke<string>("connect_ml_backend", { projectId, url, name }),
  trainMlBackends: (projectId: number) => invoke<string>("train_ml_backends", { projectId }),
  disconnectMlBackend: (projectId: number, backendId: number) =>
    invoke<void>("disconnect_ml_backend", { projectId, backendId }),
  syncStatus: () => invoke<SyncStatus>("sync_status"),
  syncNow: () => invoke<void>("sync_now"),
  refusedAnswers: () => invoke<RefusedView[]>("refused_answers"),
};

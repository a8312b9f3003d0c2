/**
 * The custom wire contract, mirrored from server/modelwire/protocol.py (method names and
 * the camelCase shapes that cross the wire) and server/modelwire/errors.py (error codes).
 * Keep this module, those two and docs/protocol.md in step. No vscode import: pure types.
 */

export const LIST_PROVIDERS = 'modelwire/listProviders';
export const REGISTER_PROVIDER = 'modelwire/registerProvider';
export const LIST_CONNECTIONS = 'modelwire/listConnections';
export const CREATE_CONNECTION = 'modelwire/createConnection';
export const UPDATE_CONNECTION = 'modelwire/updateConnection';
export const DELETE_CONNECTION = 'modelwire/deleteConnection';
export const SET_SECRET = 'modelwire/setSecret';
export const DELETE_SECRET = 'modelwire/deleteSecret';
export const TEST_CONNECTION = 'modelwire/testConnection';
export const LIST_MODELS = 'modelwire/listModels';
export const PULL_MODEL = 'modelwire/pullModel';
export const LIST_AGENTS = 'modelwire/listAgents';
export const START_RUN = 'modelwire/startRun';
export const CANCEL_RUN = 'modelwire/cancelRun';
export const LIST_RUNS = 'modelwire/listRuns';
export const GET_RUN = 'modelwire/getRun';
/** The model requests of an orchestrator run (the agents' inspector). */
export const GET_RUN_REQUESTS = 'modelwire/getRunRequests';
export const STATUS = 'modelwire/status';
export const WARM_UP = 'modelwire/warmUp';
export const RUN_EVENT = 'modelwire/runEvent';
/** Connections, keys or consent changed in some process on this data folder: re-list. */
export const DID_CHANGE_CONNECTIONS = 'modelwire/didChangeConnections';

export const SETTINGS_SECTION = 'modelwire';

/** JSON-RPC numeric codes the sidecar answers with (errors.py). */
export const INVALID_PARAMS_RPC = -32602;
export const REQUEST_CANCELLED_RPC = -32800;
export const SERVER_ERROR_RPC = -32001;

export type ProgressToken = number | string;

// --- Providers ---------------------------------------------------------------------

export type ProtocolKind = 'ollama' | 'openai';
export type AuthKind = 'none' | 'apiKey';

export interface Capabilities {
  listModels: boolean;
  pullModel: boolean;
  streaming: boolean;
}

export interface ProviderDescriptor {
  id: string;
  displayName: string;
  /** `peer`: a model shared over P2P (docs/p2p.md); core provider only. */
  protocol: ProtocolKind | 'peer';
  auth: AuthKind;
  defaultBaseUrl: string;
  defaultModel?: string;
  localOnly: boolean;
  capabilities: Capabilities;
  origin: 'core' | 'extension' | 'plugin';
}

export interface ListProvidersResult {
  providers: ProviderDescriptor[];
}

export interface RegisterProviderParams {
  id: string;
  displayName: string;
  protocol: ProtocolKind;
  auth?: AuthKind;
  defaultBaseUrl: string;
  defaultModel?: string;
  localOnly?: boolean;
  capabilities?: Partial<Capabilities>;
}

// --- Connections -------------------------------------------------------------------

export interface TimeoutSettings {
  connectSeconds?: number;
  firstTokenSeconds?: number;
  idleSeconds?: number;
  totalSeconds?: number;
}

export interface Connection {
  id: string;
  name: string;
  providerId: string;
  baseUrl: string;
  defaultModel?: string;
  hasSecret: boolean;
  maxConcurrent?: number;
  timeouts?: TimeoutSettings;
  createdAt: string;
  updatedAt: string;
}

export interface ListConnectionsParams {
  scopeUri?: string;
}

export type DefaultSource = 'settings' | 'single' | 'fallback';

export interface ListConnectionsResult {
  connections: Connection[];
  defaultConnectionId?: string;
  defaultSource?: DefaultSource;
  defaultModel?: string;
}

export interface CreateConnectionParams {
  name: string;
  providerId: string;
  baseUrl?: string;
  defaultModel?: string;
  maxConcurrent?: number;
  timeouts?: TimeoutSettings;
}

export interface UpdateConnectionParams {
  id: string;
  name?: string;
  baseUrl?: string;
  defaultModel?: string;
  maxConcurrent?: number;
  timeouts?: TimeoutSettings;
}

export interface ConnectionIdParams {
  id: string;
}

export interface DeleteConnectionResult {
  deleted: boolean;
}

/** Write-only: the only message that ever carries a key. Never log it. */
export interface SetSecretParams {
  connectionId: string;
  secret: string;
}

export interface DeleteSecretParams {
  connectionId: string;
}

export interface SecretResult {
  connectionId: string;
  hasSecret: boolean;
}

export interface TestConnectionParams {
  connectionId: string;
  /** False for requests the editor makes by itself (status bar, views): never prompt, CONSENT_REQUIRED instead. */
  interactive?: boolean;
  /** The folder whose consent applies to a stored key. */
  scopeUri?: string;
}

/** `error` has the shape of an error's `data`: {code, message, hint, retryable, ...}. */
export interface HealthResult {
  connectionId: string;
  reachable: boolean;
  version?: string;
  modelCount?: number;
  latencyMs?: number;
  checkedAt: string;
  error?: ErrorData;
}

export interface ListModelsParams {
  connectionId: string;
  refresh?: boolean;
  interactive?: boolean;
  scopeUri?: string;
}

export interface ModelEntry {
  id: string;
  size?: number;
  family?: string;
  parameterSize?: string;
  quantization?: string;
  modifiedAt?: string;
}

export interface ListModelsResult {
  connectionId: string;
  models: ModelEntry[];
  fetchedAt: string;
  cached: boolean;
}

export interface PullModelParams {
  connectionId: string;
  model: string;
  workDoneToken?: ProgressToken;
}

export interface PullModelResult {
  connectionId: string;
  model: string;
  status: string;
}

// --- Agents and runs ---------------------------------------------------------------

export interface AgentInfo {
  id: string;
  title: string;
  description: string;
  input: 'file' | 'selection';
  output: 'text' | 'diagnostics';
  origin: 'builtin' | 'workspace';
  /** Runs only with startRun's `prompt` (chat, fix). */
  needsPrompt?: boolean;
  /** Orchestrators only: agents it may delegate to, read-only tools it may call. */
  uses?: string[];
  tools?: string[];
}

export interface ListAgentsParams {
  scopeUri?: string;
}

export interface ListAgentsResult {
  agents: AgentInfo[];
}

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface StartRunParams {
  agentId: string;
  textDocument: { uri: string };
  range?: Range;
  connectionId?: string;
  modelRef?: string;
  workDoneToken?: ProgressToken;
  /** Echoed in every runEvent of this run: tells concurrent runs apart. */
  clientRunId?: string;
  /** The user's own words (a chat turn with the conversation so far, a finding to fix). */
  prompt?: string;
}

/** `share`: a prompt a P2P client sent to `modelwire share` (docs/p2p.md). */
export type RoutingSource = 'explicit' | 'settings' | 'fallback' | 'share';
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export interface Routing {
  connectionId: string;
  connectionName: string;
  providerId: string;
  modelRef: string;
  source: RoutingSource;
  /** A share client's public key (hex), when a remote peer asked. */
  requester?: string;
}

export interface Timings {
  queuedAt: string;
  startedAt?: string;
  firstTokenMs?: number;
  totalMs?: number;
  finishedAt?: string;
}

export interface RunUsage {
  promptTokens?: number;
  completionTokens?: number;
}

export interface RunRecord {
  runId: string;
  agentId: string;
  uri: string;
  routing?: Routing;
  status: RunStatus;
  timings: Timings;
  usage?: RunUsage;
  finishReason?: string;
  errorCode?: string;
  errorMessage?: string;
  output: string;
  /** Only in a startRun result whose output is over 64 KiB: the text came as deltas. */
  outputOmitted?: boolean;
  diagnosticsCount?: number;
  /** A child run of an orchestrator: its parent run and the step that started it. */
  parentRunId?: string;
  parentStep?: number;
  /** An orchestrator run: its tool calls in order. */
  steps?: RunStep[];
}

export type StepOutcome = 'running' | 'ok' | 'error' | 'cancelled';

export interface GetRunRequestsParams {
  runId: string;
}

export interface ModelRequestEntry {
  seq: number;
  sentAt: string;
  connectionId?: string;
  providerId?: string;
  /** The exact body sent; absent when it was over the stored cap (see truncatedBody). */
  body?: Record<string, unknown>;
  truncatedBody?: string;
  bodyBytes: number;
}

export interface GetRunRequestsResult {
  runId: string;
  requests: ModelRequestEntry[];
}

export interface RunStep {
  index: number;
  tool: string;
  target: string;
  arguments: Record<string, unknown>;
  outcome: StepOutcome;
  summary: string;
  childRunId?: string;
  errorCode?: string;
  startedAt: string;
  durationMs?: number;
}

export interface CancelRunParams {
  runId: string;
}

export interface CancelRunResult {
  runId: string;
  cancelled: boolean;
}

export interface ListRunsParams {
  limit?: number;
  uri?: string;
  includeOutput?: boolean;
}

export interface ListRunsResult {
  runs: RunRecord[];
}

export interface GetRunParams {
  runId: string;
}

export interface ConnectionLoad {
  connectionId: string;
  connectionName: string;
  active: number;
  queued: number;
  limit: number;
  queueLimit: number;
}

export interface StatusResult {
  version: string;
  keyringBackend: string;
  keyringSecure: boolean;
  storagePath: string;
  activeRuns: number;
  queuedRuns: number;
  connections: ConnectionLoad[];
  /** Set when the run store could not be opened: runs are kept in memory only. */
  storageError?: string | null;
}

/** Start the scope's default connection ahead of the first run, when it is one the sidecar starts (Embedded). */
export interface WarmUpParams {
  scopeUri?: string;
}

export interface WarmUpResult {
  /** The scope's default connection, when there is one. */
  connectionId?: string;
  /** True when this call started (or found running) the embedded model server. */
  warmed: boolean;
}

export * from './runEvents';

// --- Errors (errors.py): codes in errorCodes.ts --------------------------------------

export { ErrorCode, ErrorCodeName } from './errorCodes';

/** The `data` of every ModelWire JSON-RPC error. Extra keys (e.g. `choices`) may follow. */
export interface ErrorData {
  code: string;
  message: string;
  hint?: string;
  retryable?: boolean;
  connectionId?: string;
  providerId?: string;
  [extra: string]: unknown;
}

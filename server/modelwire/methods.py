"""Custom method names, in a module with no imports so the sidecar can register its
handlers (and answer `initialize`) without loading pydantic models first."""

LIST_PROVIDERS = "modelwire/listProviders"
REGISTER_PROVIDER = "modelwire/registerProvider"
LIST_CONNECTIONS = "modelwire/listConnections"
CREATE_CONNECTION = "modelwire/createConnection"
UPDATE_CONNECTION = "modelwire/updateConnection"
DELETE_CONNECTION = "modelwire/deleteConnection"
SET_SECRET = "modelwire/setSecret"
DELETE_SECRET = "modelwire/deleteSecret"
TEST_CONNECTION = "modelwire/testConnection"
LIST_MODELS = "modelwire/listModels"
PULL_MODEL = "modelwire/pullModel"
LIST_AGENTS = "modelwire/listAgents"
START_RUN = "modelwire/startRun"
CANCEL_RUN = "modelwire/cancelRun"
LIST_RUNS = "modelwire/listRuns"
GET_RUN = "modelwire/getRun"
GET_RUN_REQUESTS = "modelwire/getRunRequests"
STATUS = "modelwire/status"
WARM_UP = "modelwire/warmUp"
RUN_EVENT = "modelwire/runEvent"
DID_CHANGE_CONNECTIONS = "modelwire/didChangeConnections"
# Server → client notifications (not requests: no handler is registered for them).
NOTIFICATIONS = (RUN_EVENT, DID_CHANGE_CONNECTIONS)

SETTINGS_SECTION = "modelwire"

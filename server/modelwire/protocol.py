"""The custom wire contract: method names and the typed params/results that cross it.

Wire names are camelCase, Python names snake_case: every model derives from `WireModel`,
whose alias generator does the conversion. `editor-extension/src/protocol.ts` mirrors
this module and `docs/protocol.md` documents it; keep the three in step.
"""

from __future__ import annotations

from modelwire import protocol_connections, protocol_runs

# Method names live in modelwire.methods (no pydantic); re-exported for one import.
from modelwire.methods import (
    CANCEL_RUN as CANCEL_RUN,
)
from modelwire.methods import (
    CREATE_CONNECTION as CREATE_CONNECTION,
)
from modelwire.methods import (
    DELETE_CONNECTION as DELETE_CONNECTION,
)
from modelwire.methods import (
    DELETE_SECRET as DELETE_SECRET,
)
from modelwire.methods import (
    DID_CHANGE_CONNECTIONS as DID_CHANGE_CONNECTIONS,
)
from modelwire.methods import (
    GET_RUN as GET_RUN,
)
from modelwire.methods import (
    GET_RUN_REQUESTS as GET_RUN_REQUESTS,
)
from modelwire.methods import (
    LIST_AGENTS as LIST_AGENTS,
)
from modelwire.methods import (
    LIST_CONNECTIONS as LIST_CONNECTIONS,
)
from modelwire.methods import (
    LIST_MODELS as LIST_MODELS,
)
from modelwire.methods import (
    LIST_PROVIDERS as LIST_PROVIDERS,
)
from modelwire.methods import (
    LIST_RUNS as LIST_RUNS,
)
from modelwire.methods import (
    PULL_MODEL as PULL_MODEL,
)
from modelwire.methods import (
    REGISTER_PROVIDER as REGISTER_PROVIDER,
)
from modelwire.methods import (
    RUN_EVENT as RUN_EVENT,
)
from modelwire.methods import (
    SET_SECRET as SET_SECRET,
)
from modelwire.methods import (
    SETTINGS_SECTION as SETTINGS_SECTION,
)
from modelwire.methods import (
    START_RUN as START_RUN,
)
from modelwire.methods import (
    STATUS as STATUS,
)
from modelwire.methods import (
    TEST_CONNECTION as TEST_CONNECTION,
)
from modelwire.methods import (
    UPDATE_CONNECTION as UPDATE_CONNECTION,
)
from modelwire.methods import (
    WARM_UP as WARM_UP,
)

# The models live in one module per concern; every name stays importable from here.
from modelwire.protocol_base import *  # noqa: F403
from modelwire.protocol_connections import *  # noqa: F403
from modelwire.protocol_runs import *  # noqa: F403

# The model modules in source order, for `protocol_ts` (it generates the extension's types).
MODEL_MODULES = (protocol_connections, protocol_runs)

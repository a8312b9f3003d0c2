-- A user's session in a real Neovim, driven through the documented config
-- (docs/editors/neovim.md): open a file, add an Ollama connection, run `explain`,
-- list connections, stop the server. Everything observed goes to a JSON report that
-- tests/e2e/test_neovim.py asserts on. Inputs come from the environment:
--   MW_NVIM_CONFIG  the config module extracted from the docs
--   MW_NVIM_PYTHON  the interpreter that runs `-m modelwire serve`
--   MW_NVIM_ROOT    the workspace folder;  MW_NVIM_FILE  the file to explain
--   MW_NVIM_OLLAMA  the Ollama base URL;   MW_NVIM_OUT   where the report goes
--   MW_NVIM_TIMEOUT_MS  bound for each wait

local report = { steps = {}, notifications = {}, progress = {}, events = {} }
local timeout = tonumber(os.getenv("MW_NVIM_TIMEOUT_MS") or "30000")

local function step(name, ok, detail)
  table.insert(report.steps, { name = name, ok = ok, detail = detail })
  if not ok then
    error(name .. " did not happen within " .. timeout .. " ms: " .. vim.inspect(detail))
  end
end

local function write_report()
  local file = assert(io.open(os.getenv("MW_NVIM_OUT"), "w"))
  file:write(vim.fn.json_encode(report))
  file:close()
end

local function session()
  report.nvim_version = vim.version()

  -- What the user would see as messages.
  vim.notify = function(msg, level)
    table.insert(report.notifications, { msg = msg, level = level or vim.log.levels.INFO })
  end
  -- Every $/progress value, before the config's handler and Neovim's default see it.
  local default_progress = vim.lsp.handlers["$/progress"]
  vim.lsp.handlers["$/progress"] = function(err, result, ctx, config)
    table.insert(report.progress, result)
    return default_progress(err, result, ctx, config)
  end

  local M = dofile(os.getenv("MW_NVIM_CONFIG"))
  M.setup({ python = os.getenv("MW_NVIM_PYTHON"), root_dir = os.getenv("MW_NVIM_ROOT") })
  table.insert(M.listeners, function(event)
    table.insert(report.events, event)
  end)

  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("MW_NVIM_FILE")))
  local source = vim.api.nvim_get_current_buf()

  vim.cmd("ModelWireAddOllama " .. os.getenv("MW_NVIM_OLLAMA"))
  step("connection created", vim.wait(timeout, function()
    return M.last_created ~= nil
  end, 20), report.notifications)
  report.connection = M.last_created

  vim.cmd("ModelWireRun explain")
  local run = M.last_run
  step("run finished", vim.wait(timeout, function()
    return run.record ~= nil or run.status == "failed"
  end, 20), report.notifications)
  report.record = run.record
  report.run_error = run.error
  report.source_buffer_unchanged = vim.api.nvim_get_current_buf() == source

  local lines = vim.api.nvim_buf_get_lines(run.buf, 0, -1, false)
  report.output_buffer = {
    header = lines[1],
    status = lines[2],
    text = table.concat(vim.list_slice(lines, run.output_start + 1), "\n"),
    modifiable = vim.api.nvim_buf_get_option(run.buf, "modifiable"),
    shown_in_window = vim.fn.bufwinnr(run.buf) ~= -1,
  }

  local client = vim.lsp.get_client_by_id(M.client_id)
  local token = report.progress[1] and report.progress[1].token
  report.neovim_progress_state = token and client.messages.progress[token] or vim.NIL

  vim.cmd("ModelWireConnections")
  step("connections listed", vim.wait(timeout, function()
    return M.last_connections ~= nil
  end, 20), report.notifications)
  report.connections = M.last_connections

  vim.lsp.stop_client(M.client_id)
  step("server stopped", vim.wait(timeout, function()
    return vim.lsp.get_client_by_id(client.id) == nil
  end, 20), nil)
end

local ok, err = pcall(session)
report.ok = ok
report.error = ok and vim.NIL or tostring(err)
write_report()
vim.cmd("qa!")

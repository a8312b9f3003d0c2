'use strict'
// ModelWire's Hyperswarm bridge: transport only.
//
// The Python side (modelwire.p2p.bridge) spawns this process and talks to it in NDJSON
// over stdin/stdout. Every protocol rule (message types, prompt size, busy, errors)
// lives in Python; this file joins the topic, frames lines with a size cap, counts
// clients, applies the allow-list, times out dead peers and exits when its parent goes.
//
// stdin (parent → bridge), one JSON object per line:
//   {"op":"start","mode":"host"|"client","topic":hex32,"seed":hex32,
//    "maxClients":5,"allow":[hex32…]|null,"fullLine":"…","lineMax":65536,
//    "timeoutMs":15000,"writeMax":1048576}
//   {"op":"send","id":N,"line":"…"}   {"op":"end","id":N}   {"op":"stop"}
// stdout (bridge → parent):
//   {"ev":"ready","publicKey":hex}  {"ev":"open","id":N,"peer":hex}
//   {"ev":"line","id":N,"line":"…"} {"ev":"oversize","id":N}
//   {"ev":"close","id":N,"reason":"…"} {"ev":"refused","peer":hex,"reason":"full"|"allow-list"}
//   {"ev":"fatal","code":"…","message":"…"} (then exit 3)

const os = require('os')
const fs = require('fs')
const { checkIsolation, parseBootstrap } = require('./isolation')

const CONTROL_LINE_MAX = 4 * 1024 * 1024
const END_GRACE_MS = 2000
const SHUTDOWN_CAP_MS = 2000
// One pending udx write is one encrypted line; lines average well under this size.
const PENDING_WRITE_ESTIMATE = 256

function out (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fatal (code, message) {
  out({ ev: 'fatal', code, message })
  process.exit(3)
}

let bootstrap
try {
  bootstrap = parseBootstrap(process.env.MODELWIRE_P2P_BOOTSTRAP)
  const refusal = checkIsolation(process.env, bootstrap, os.networkInterfaces(), fs)
  if (refusal) fatal('ISOLATION_REQUIRED', refusal)
} catch (err) {
  fatal('BAD_BOOTSTRAP', String(err && err.message))
}

// Loaded only after the checks: nothing of Hyperswarm runs in a refused process.
const Hyperswarm = require('hyperswarm')
const b4a = require('b4a')

let swarm = null
let config = null
let nextId = 1
const conns = new Map() // id → {conn, peer}
let stopping = false

function hex (buf) {
  return b4a.toString(buf, 'hex')
}

function fromHex32 (text, what) {
  if (typeof text !== 'string' || !/^[0-9a-f]{64}$/.test(text)) throw new Error(`${what} must be 64 hex characters`)
  return b4a.from(text, 'hex')
}

function start (msg) {
  if (config) return
  const mode = msg.mode
  if (mode !== 'host' && mode !== 'client') fatal('BAD_START', 'mode must be host or client')
  let topic, seed
  try {
    topic = fromHex32(msg.topic, 'topic')
    seed = fromHex32(msg.seed, 'seed')
  } catch (err) {
    fatal('BAD_START', err.message)
  }
  config = {
    mode,
    maxClients: Number.isInteger(msg.maxClients) && msg.maxClients > 0 ? msg.maxClients : 5,
    allow: Array.isArray(msg.allow) ? new Set(msg.allow.map((k) => String(k).toLowerCase())) : null,
    fullLine: typeof msg.fullLine === 'string' ? msg.fullLine : '',
    lineMax: Number.isInteger(msg.lineMax) && msg.lineMax > 0 ? msg.lineMax : 65536,
    timeoutMs: Number.isInteger(msg.timeoutMs) && msg.timeoutMs > 0 ? msg.timeoutMs : 15000,
    writeMax: Number.isInteger(msg.writeMax) && msg.writeMax > 0 ? msg.writeMax : 1024 * 1024
  }
  const opts = { seed }
  if (bootstrap !== null) opts.bootstrap = bootstrap
  if (mode === 'host' && config.allow !== null) {
    // true = reject. Checked before the handshake completes: no prompt can arrive.
    opts.firewall = (remotePublicKey) => {
      const ok = config.allow.has(hex(remotePublicKey))
      if (!ok) out({ ev: 'refused', peer: hex(remotePublicKey), reason: 'allow-list' })
      return !ok
    }
  }
  swarm = new Hyperswarm(opts)
  swarm.on('connection', onConnection)
  const discovery = mode === 'host'
    ? swarm.join(topic, { server: true, client: false })
    : swarm.join(topic, { server: false, client: true })
  if (mode === 'host') {
    discovery.flushed().then(
      () => out({ ev: 'ready', publicKey: hex(swarm.keyPair.publicKey) }),
      (err) => fatal('JOIN_FAILED', String(err && err.message))
    )
  } else {
    out({ ev: 'ready', publicKey: hex(swarm.keyPair.publicKey) })
  }
}

function onConnection (conn, info) {
  // An error handler on every connection: a reconnect otherwise crashes the process
  // with an unhandled ECONNRESET.
  conn.on('error', () => {})
  const peer = hex(conn.remotePublicKey || info.publicKey)
  if (stopping) {
    conn.destroy()
    return
  }
  if (config.mode === 'host' && conns.size >= config.maxClients) {
    // maxPeers does not cap incoming connections: count them here.
    out({ ev: 'refused', peer, reason: 'full' })
    if (config.fullLine) conn.write(config.fullLine + '\n')
    endSoon(conn)
    return
  }
  const id = nextId++
  const entry = { conn, peer, closed: false }
  conns.set(id, entry)
  conn.setTimeout(config.timeoutMs)
  conn.on('timeout', () => conn.destroy())
  out({ ev: 'open', id, peer })

  let parts = []
  let size = 0
  let discarding = false
  conn.on('data', (data) => {
    let start = 0
    while (start < data.length) {
      const nl = data.indexOf(10, start)
      const end = nl === -1 ? data.length : nl
      if (!discarding) {
        const piece = data.subarray(start, end)
        if (size + piece.length > config.lineMax) {
          // Over the cap: say so once, drop the rest of this line, keep the connection
          // (the Python side decides whether to answer or drop the peer).
          discarding = true
          parts = []
          size = 0
          out({ ev: 'oversize', id })
        } else if (piece.length) {
          parts.push(piece)
          size += piece.length
        }
      }
      if (nl === -1) break
      if (!discarding) {
        let line = b4a.toString(b4a.concat(parts), 'utf8')
        if (line.endsWith('\r')) line = line.slice(0, -1)
        if (line.length) out({ ev: 'line', id, line })
      }
      parts = []
      size = 0
      discarding = false
      start = nl + 1
    }
  })
  conn.on('end', () => conn.end()) // mirror a remote end, or neither side sees close
  conn.on('close', () => {
    if (entry.closed) return
    entry.closed = true
    conns.delete(id)
    out({ ev: 'close', id, reason: entry.reason || 'closed' })
  })
}

function endSoon (conn) {
  conn.end()
  // end() only half-closes; a peer that never ends its side would hold the slot.
  setTimeout(() => conn.destroy(), END_GRACE_MS).unref()
}

function send (msg) {
  const entry = conns.get(msg.id)
  if (!entry || typeof msg.line !== 'string') return
  const conn = entry.conn
  conn.write(msg.line + '\n')
  if (unacknowledged(conn) > config.writeMax) {
    // A peer that never reads: drop it rather than buffer without bound.
    entry.reason = 'slow-reader'
    conn.destroy()
  }
}

// Bytes the peer has not taken yet: queued in the stream, plus (udx-native, pinned)
// writes sent but not acknowledged. A peer that stops reading or acknowledging makes
// this grow; past writeMax it is dropped instead of buffered without bound.
function unacknowledged (conn) {
  const queued = conn._writableState ? conn._writableState.buffered : 0
  const raw = conn.rawStream
  const pending = raw && raw._wreqs && raw._wfree ? raw._wreqs.length - raw._wfree.length : 0
  return queued + pending * PENDING_WRITE_ESTIMATE
}

function end (msg) {
  const entry = conns.get(msg.id)
  if (entry) endSoon(entry.conn)
}

function shutdown () {
  if (stopping) return
  stopping = true
  for (const { conn } of conns.values()) conn.destroy()
  // swarm.destroy() can hang for 30–40 s when the DHT is gone: cap it.
  setTimeout(() => process.exit(0), SHUTDOWN_CAP_MS).unref()
  const done = swarm ? swarm.destroy() : Promise.resolve()
  done.then(() => process.exit(0), () => process.exit(0))
}

// Parent → bridge control lines.
let pending = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  pending += chunk
  if (pending.length > CONTROL_LINE_MAX && pending.indexOf('\n') === -1) fatal('BAD_CONTROL', 'control line too long')
  let nl
  while ((nl = pending.indexOf('\n')) !== -1) {
    const line = pending.slice(0, nl)
    pending = pending.slice(nl + 1)
    if (!line.trim()) continue
    let msg
    try {
      msg = JSON.parse(line)
    } catch {
      fatal('BAD_CONTROL', 'control line is not JSON')
    }
    if (msg.op === 'start') start(msg)
    else if (!config) fatal('BAD_CONTROL', 'the first control line must be start')
    else if (msg.op === 'send') send(msg)
    else if (msg.op === 'end') end(msg)
    else if (msg.op === 'stop') shutdown()
  }
})
// The parent is gone (or closed our stdin): leave with it.
process.stdin.on('end', shutdown)
process.stdin.on('error', shutdown)
process.stdout.on('error', () => process.exit(0))
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

'use strict'
// When a Hyperswarm node may start (docs/p2p.md, "Tests never leave the machine").
//
// MODELWIRE_P2P_BOOTSTRAP: comma-separated host:port list of DHT bootstrap nodes.
// Unset or empty → Hyperswarm's public bootstrap nodes (normal use).
//
// MODELWIRE_P2P_REQUIRE_ISOLATION=1 (every test and bench sets it): refuse to start
// unless (1) a bootstrap list is given, (2) every bootstrap host is a 127.x address,
// and (3) the only network interface this process can see is `lo` (that is, it runs in
// a private network namespace). Interfaces are read from os.networkInterfaces() and
// /proc/self/net/dev, which follow the process's namespace (/sys/class/net does not).

function parseBootstrap (value) {
  if (value === undefined || value.trim() === '') return null
  return value.split(',').map((item) => {
    const text = item.trim()
    const colon = text.lastIndexOf(':')
    const host = colon > 0 ? text.slice(0, colon).replace(/^\[|\]$/g, '') : ''
    const port = colon > 0 ? Number(text.slice(colon + 1)) : NaN
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`MODELWIRE_P2P_BOOTSTRAP: "${text}" is not host:port`)
    }
    return { host, port }
  })
}

function procInterfaces (fs) {
  try {
    const text = fs.readFileSync('/proc/self/net/dev', 'utf8')
    return text.split('\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean)
  } catch {
    return []
  }
}

// Returns null when the node may start, else the reason it may not.
function checkIsolation (env, bootstrap, interfaces, fs) {
  if (env.MODELWIRE_P2P_REQUIRE_ISOLATION !== '1') return null
  if (bootstrap === null || bootstrap.length === 0) {
    return 'isolation required: MODELWIRE_P2P_BOOTSTRAP must list loopback bootstrap nodes'
  }
  const remote = bootstrap.filter((b) => !/^127\.\d+\.\d+\.\d+$/.test(b.host))
  if (remote.length) {
    return `isolation required: bootstrap host ${remote[0].host} is not a 127.x address`
  }
  const names = new Set([...Object.keys(interfaces), ...procInterfaces(fs)])
  const others = [...names].filter((n) => n !== 'lo')
  if (others.length) {
    return `isolation required: network interfaces other than lo are visible (${others.join(', ')}); run inside unshare -n`
  }
  return null
}

module.exports = { parseBootstrap, checkIsolation }

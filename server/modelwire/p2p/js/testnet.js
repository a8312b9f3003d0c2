'use strict'
// A local HyperDHT testnet for tests and bench: three DHT nodes on 127.0.0.1.
// Prints one line, {"bootstrap":"127.0.0.1:PORT,…"}, then runs until stdin closes.
// It always requires isolation (a loopback-only network namespace): it is never for
// normal use, so it refuses to start anywhere else.

const os = require('os')
const fs = require('fs')
const { checkIsolation } = require('./isolation')

const refusal = checkIsolation(
  { MODELWIRE_P2P_REQUIRE_ISOLATION: '1' },
  [{ host: '127.0.0.1', port: 1 }],
  os.networkInterfaces(),
  fs
)
if (refusal) {
  process.stderr.write(`testnet: ${refusal}\n`)
  process.exit(3)
}

const createTestnet = require('hyperdht/testnet')

async function main () {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const list = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  process.stdout.write(JSON.stringify({ bootstrap: list }) + '\n')
  const stop = () => {
    setTimeout(() => process.exit(0), 2000).unref()
    testnet.destroy().then(() => process.exit(0), () => process.exit(0))
  }
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
  process.stdin.resume()
  process.on('SIGTERM', stop)
}

main().catch((err) => {
  process.stderr.write(`testnet: ${err && err.message}\n`)
  process.exit(1)
})

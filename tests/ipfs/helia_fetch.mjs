// Helia as a real client of our gateway: an HTTP-only Helia node
// (helia's createHeliaLight + @helia/http) that finds providers through
// our Delegated Routing V1 endpoint (and uses our gateway as its
// recursive gateway), fetches raw blocks from our trustless gateway,
// verifies each, and @helia/verified-fetch turns ipfs://CID into the
// file's bytes on stdout.
// usage: node helia_fetch.mjs GATEWAY_URL CID   (run from the folder helia_setup.sh prints)
import { createHeliaLight } from 'helia'
import { withHTTP } from '@helia/http'
import { createVerifiedFetch } from '@helia/verified-fetch'

const [gateway, cid] = process.argv.slice(2)
const helia = await withHTTP(createHeliaLight(), {
  delegatedRouters: [gateway],
  recursiveGateways: [gateway],
  allowInsecure: true, // plain http
  allowLocal: true // 127.0.0.1
}).start()
const vf = await createVerifiedFetch(helia)
const res = await vf(`ipfs://${cid}`, { signal: AbortSignal.timeout(Number(process.env.HELIA_TIMEOUT_MS ?? 30000)) })
if (!res.ok) {
  console.error(`HTTP ${res.status}: ${await res.text()}`)
  process.exit(1)
}
process.stdout.write(Buffer.from(await res.arrayBuffer()))
await vf.stop()
await helia.stop()

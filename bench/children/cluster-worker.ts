/**
 * Cluster worker of the cluster bench: connects a ClusterView and reports, for every
 * probe heartbeat (the server named by HM_PROBE_IP, `ready` = probe number), the moment its update
 * reached the view (process.hrtime: CLOCK_MONOTONIC, shared by all processes on Linux).
 * Counts the bytes of every IPC message of the view's channel (JSON, as sent).
 */
import { ClusterView } from '../../src/index.js';

const PROBE_IP = process.env.HM_PROBE_IP;

let bytes = 0;
let messages = 0;
process.on('message', (message: unknown) => {
  if (typeof message === 'object' && message !== null && (message as { heartmonitor?: unknown }).heartmonitor === 'heartmonitor') {
    // The default `json` serialization sends JSON.stringify(message) plus a newline.
    bytes += Buffer.byteLength(JSON.stringify(message)) + 1;
    messages++;
  }
  if (typeof message === 'object' && message !== null && (message as { bench?: unknown }).bench === 'bytes') {
    process.send?.({ bench: 'bytes', bytes, messages });
    bytes = 0;
    messages = 0;
  }
});

const view = await ClusterView.connect({ timeout: 30_000 });
// The first read announces the servers the view opened with: before the probes are timed.
view.servers();
view.on('update', (server) => {
  if (server.ip === PROBE_IP) process.send?.({ bench: 'probe', probe: server.ready, seenAt: Number(process.hrtime.bigint()) });
});
process.send?.({ bench: 'ready' });

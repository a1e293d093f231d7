import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

describe('examples/prometheus.ts', () => {
  it('exports the metrics in Prometheus text format', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import=tsx/esm', 'examples/prometheus.ts', '--once'], { timeout: 30_000 });
    assert.match(stdout, /^# TYPE heartmonitor_heartbeats_received_total counter$/m);
    assert.match(stdout, /^heartmonitor_heartbeats_received_total 4$/m);
    assert.match(stdout, /^heartmonitor_heartbeats_malformed_total 1$/m);
    assert.match(stdout, /^heartmonitor_picks_total 20$/m);
    assert.match(stdout, /^heartmonitor_ejections_total 1$/m);
    assert.match(stdout, /^heartmonitor_servers_failed 1$/m);
    assert.match(stdout, /^heartmonitor_endpoint_weights\{server="10.0.0.2"\} 0$/m);
    assert.match(stdout, /^heartmonitor_endpoint_state\{server="10.0.0.2",state="failed"\} 1$/m);
  });
});

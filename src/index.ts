/**
 * heartmonitor — Apache httpd's heartbeat load balancing (mod_heartbeat,
 * mod_heartmonitor, lbmethod=heartbeat) for Node.js.
 * @module heartmonitor
 */
export { HeartMonitor } from './monitor/monitor.js';
export type { HeartMonitorEvents, HeartMonitorStats, HeartbeatSource, MalformedHeartbeat } from './monitor/events.js';
export { MAX_SERVERS_MESSAGE } from './monitor/options.js';
export type { HeartMonitorOptions } from './monitor/options.js';
export { parseHeartbeat, formatHeartbeat, MAX_COUNT, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PORT } from './protocol/heartbeat.js';
export type { HeartbeatParseResult, ParsedHeartbeat, RejectedHeartbeat, ParseHeartbeatOptions, HeartbeatFields } from './protocol/heartbeat.js';
export { pickBackend, heartbeatWeight } from './picking/selection.js';
export { DEFAULT_STALE_AFTER, DEFAULT_WARMUP_DIVISOR } from './table/settings.js';
export type { PickOptions } from './picking/selection.js';
export { parseSocketAddress, parseMember, canonicalHost } from './protocol/address.js';
export type { BackendMember, MemberAddress, SocketAddress } from './protocol/address.js';
export { serverKey } from './protocol/server-status.js';
export type { ServerStatus, KeyBy } from './protocol/server-status.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { MemoryStore, DEFAULT_MEMORY_MAX_SERVERS } from './stores/memory-store.js';
export type { MemoryStoreOptions } from './stores/memory-store.js';
export type { HeartbeatStore, StoreSettings } from './stores/store.js';
export { FileStore, DEFAULT_FILE_MODE } from './stores/file-store.js';
export type { FileStoreOptions } from './stores/file-store.js';
export { HeartbeatFileReader, DEFAULT_CHECK_INTERVAL } from './views/file-reader.js';
export type { HeartbeatFileReaderOptions, HeartbeatFileReaderEvents } from './views/file-reader.js';
export { readHeartbeatFile, parseHeartbeatFile, formatHeartbeatLine, formatHeartbeatFile, formatSettingsLine, parseSettingsLine, SETTINGS_LINE_PREFIX, DEFAULT_FILE_EXPIRE_AFTER } from './stores/hb-file.js';
export type { HeartbeatFileContents, ParseHeartbeatFileOptions, SkippedHeartbeatLine } from './stores/hb-file.js';
export { SlotStore, SlotStoreView, DEFAULT_SLOT_COUNT, SLOT_BYTES } from './stores/slot-store.js';
export type { SlotStoreOptions, SlotStoreViewOptions, FailureSharing, SlotStoreSettings } from './stores/slot-store.js';
export type { HeartbeatView, HeartbeatViewEvents, HeartbeatViewOptions } from './views/view.js';
export { BalancedView } from './views/balanced-view.js';
export type { ViewSettings } from './views/balanced-view.js';
export type { TableSettings } from './table/settings.js';
export { ClusterView, DEFAULT_CONNECT_TIMEOUT } from './views/cluster-view.js';
export type { ClusterViewOptions, ClusterViewEvents, IpcChannel } from './views/cluster-view.js';
export { ClusterShare } from './views/cluster-share.js';
export { isHeartmonitorMessage } from './views/cluster-messages.js';
export type { ClusterShareOptions, ClusterShareStats, IpcPeer } from './views/cluster-share.js';
export {
  HeartMonitorError,
  ListenError,
  NotConfiguredError,
  SocketError,
  StoreFullError,
  StoreError,
  ListenerError,
  SenderError,
} from './errors.js';
export type { HeartMonitorErrorCode } from './errors.js';
export type { HeartMonitorWarning, HeartMonitorWarningCode } from './diagnostics/warning.js';
export { NoMemberError } from './integrations/view.js';
export type { LeasingView } from './integrations/view.js';
// Balancing beyond lbmethod=heartbeat: slow start, leases, failure feedback, admin states, metrics, status page.
export { slowStartFactor } from './balancer/slow-start.js';
export { DEFAULT_RETRY_AFTER, DEFAULT_MAX_RETRY_AFTER } from './balancer/options.js';
export type { BalancingOptions, BalancingMode, SlowStartOptions, FailureOptions, PickMode, NoFreshServerPolicy, WhenAllBusyPolicy } from './balancer/options.js';
export type { Lease, MemberLease, LeaseResult } from './balancer/leases.js';
export type { AdminState, ServerState, ServerView, ServerFailure } from './balancer/server-state.js';
export type { HeartMonitorMetrics, EndpointMetrics } from './http/metrics.js';
export type { StatusHandler, StatusPageOptions, StatusSnapshot, StatusSource } from './http/status-page.js';
export { HeartbeatSender } from './sender/sender.js';
export type { HeartbeatSenderOptions, HeartbeatSenderEvents, HeartbeatStatus } from './sender/sender.js';
export { trackServerLoad } from './sender/server-load.js';
export type { ServerLoad, ServerLoadOptions } from './sender/server-load.js';
export type { HttpHandler, HttpHandlerOptions } from './http/http-handler.js';
export { createSourceFilter } from './monitor/allowlist.js';
export type { AllowOption, SourceFilter } from './monitor/allowlist.js';
export { signHeartbeat, verifyHeartbeatSignature, DEFAULT_MAX_SKEW, TIMESTAMP_FIELD, SIGNATURE_FIELD } from './protocol/signature.js';
export type { HeartbeatSecret, HeartbeatSecrets, SignatureCheck } from './protocol/signature.js';
export type { RefusalCode, RejectedHeartbeatInfo } from './monitor/events.js';

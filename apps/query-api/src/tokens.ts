// Injection tokens of the query API's providers that are not classes (values handed in at creation).

/** The QueryApiConfig (limits for parameters, auth). */
export const CONFIG = 'QUERY_API_CONFIG';
/** The Metrics registry (one per application, shared with the auth hook and the access log). */
export const METRICS = 'QUERY_API_METRICS';
/** The Storage the partial rows are read from. */
export const STORAGE = 'QUERY_API_STORAGE';
/** Extra readiness checks (ReadinessCheck[]), e.g. the hosted aggregator's. */
export const READINESS = 'QUERY_API_READINESS';
/** More Prometheus text for /metrics ((() => Promise<string>)[]), e.g. the hosted aggregator's registry. */
export const EXTRA_METRICS = 'QUERY_API_EXTRA_METRICS';

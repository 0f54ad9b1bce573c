// What the partial store reports (implemented by the application's Metrics).
export interface StoreMetrics {
  cacheHit(n: number): void;
  cacheMiss(n: number): void;
  queryTime(kind: string, seconds: number): void;
}

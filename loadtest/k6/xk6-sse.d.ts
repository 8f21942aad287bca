// Types for the xk6-sse extension (`import sse from "k6/x/sse"`), which ships none: what
// sla.js uses of it. `sse.open` blocks the VU until the stream ends, calling the handlers as events come.
declare module "k6/x/sse" {
  export interface SseParams {
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    tags?: Record<string, string>;
  }
  export interface SseEvent {
    id: string;
    name: string;
    data: string;
  }
  export interface SseError {
    error(): string;
  }
  export interface SseClient {
    on(event: "open", handler: () => void): void;
    on(event: "event", handler: (event: SseEvent) => void): void;
    on(event: "error", handler: (error: SseError) => void): void;
    close(): void;
  }
  export interface SseResponse {
    url: string;
    status: number;
    /** canonical header names (`X-Tritgate-Degraded`) */
    headers: Record<string, string>;
    error: string;
  }
  const sse: {
    open(url: string, params: SseParams, setup: (client: SseClient) => void): SseResponse;
  };
  export default sse;
}

declare module 'krog:plugin/types@0.1.0' {
  /**
   * A booking event as krog received it.
   */
  export interface Event {
    /**
     * The event id (`evt_…`), the same on every retry.
     */
    id: string,
    /**
     * `booking.created`, `booking.updated` or `booking.deleted`.
     */
    eventType: string,
    /**
     * RFC 3339 time of the event.
     */
    timestamp: string,
    /**
     * The tenant the event belongs to.
     */
    tenant: string,
    /**
     * The booking object as JSON text, exactly as the booking system sent it.
     */
    data: string,
  }
  /**
   * An HTTP request body for krog to sign and POST to the subscriber.
   */
  export interface Request {
    contentType: string,
    /**
     * Extra headers. `webhook-*`, `host`, `content-length` and hop-by-hop headers are refused.
     */
    headers: Array<[string, string]>,
    body: Uint8Array,
  }
  /**
   * What a plugin decides for one event.
   */
  export type Outcome = OutcomeSkip | OutcomeDeliver;
  /**
   * Filtered out: nothing is sent; the reason is recorded on the delivery.
   */
  export interface OutcomeSkip {
    tag: 'skip',
    val: string,
  }
  /**
   * Send this request.
   */
  export interface OutcomeDeliver {
    tag: 'deliver',
    val: Request,
  }
  /**
   * What a plugin says about itself.
   */
  export interface PluginInfo {
    name: string,
    version: string,
    description: string,
    /**
     * JSON Schema (as JSON text) of the config the plugin accepts.
     */
    configSchema: string,
  }
  /**
   * # Variants
   * 
   * ## `"debug"`
   * 
   * ## `"info"`
   * 
   * ## `"warn"`
   * 
   * ## `"error"`
   */
  export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
}

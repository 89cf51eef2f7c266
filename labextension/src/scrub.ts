import { Notification } from '@jupyterlab/apputils';
import { Event } from '@jupyterlab/services';

/** Schema id of the server's "secret values scrubbed from a saved file" event. */
export const SCRUB_EVENT_SCHEMA =
  'https://zingy.ai/zingy-nb/events/secret-scrubbed';

/**
 * Text of the warning for a scrub event, or `null` if the emission is another event.
 *
 * The server's event websocket sends the event data next to `schema_id`; a
 * nested `data` object is accepted too.
 *
 * @param emission - one event from `serviceManager.events.stream`
 * @returns the message to show, or `null`
 */
export function scrubMessage(emission: Event.Emission): string | null {
  if (emission.schema_id !== SCRUB_EVENT_SCHEMA) {
    return null;
  }
  const nested = emission['data'];
  const data =
    nested && typeof nested === 'object' && !Array.isArray(nested)
      ? (nested as Record<string, unknown>)
      : (emission as Record<string, unknown>);
  const path = typeof data.path === 'string' ? data.path : 'a file';
  const count = typeof data.count === 'number' ? data.count : 0;
  return `Saved "${path}" with ${count} secret value(s) replaced by [REDACTED].`;
}

/**
 * Show a warning notification for every scrub event of the server.
 *
 * @param events - the event manager (`app.serviceManager.events`)
 */
export function notifyOnScrub(events: Event.IManager): void {
  events.stream.connect((_, emission) => {
    const message = scrubMessage(emission);
    if (message) {
      Notification.warning(message, { autoClose: 10000 });
    }
  });
}

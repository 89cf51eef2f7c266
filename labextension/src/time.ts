/**
 * Format a timestamp the way the panel and the CLI do: UTC, to the minute.
 *
 * One format everywhere, whatever the browser's locale or time zone, so a time
 * in the sidebar reads the same as in `zingy-nb profiles list` or the panel.
 *
 * @param iso - an ISO 8601 timestamp from the server; one without a zone is
 *   read as UTC (the server keeps every time in UTC), not as local time
 * @returns `YYYY-MM-DD HH:MM UTC`, or the input unchanged if it does not parse
 */
export function formatUtcMinute(iso: string): string {
  const zoned = /T.*(Z|[+-]\d{2}:?\d{2})$/i.test(iso);
  const date = new Date(zoned || !iso.includes('T') ? iso : `${iso}Z`);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  const two = (value: number) => String(value).padStart(2, '0');
  const day = `${date.getUTCFullYear()}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}`;
  return `${day} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())} UTC`;
}

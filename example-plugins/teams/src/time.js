// Booking times as people read them, in the booking's own UTC offset (as the booking system
// sent it): no time-zone database needed.

const DAYS = {
  en: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
  da: ["søn", "man", "tir", "ons", "tor", "fre", "lør"],
  de: ["So", "Mo", "Di", "Mi", "Do", "Fr", "Sa"],
};
const MONTHS = {
  en: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
  da: ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
  de: ["Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"],
};

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/;

/** `Thu 3 Dec 2026, 14:00–14:50`; a time it cannot read is shown as sent. */
export function whenText(start, end, locale) {
  if (!start) return null;
  const s = ISO.exec(start);
  if (!s) return start;
  const [, y, m, d, hh, mm] = s;
  const weekday = new Date(Date.UTC(+y, +m - 1, +d)).getUTCDay();
  const date =
    locale === "en"
      ? `${DAYS.en[weekday]} ${+d} ${MONTHS.en[+m - 1]} ${y}`
      : `${DAYS[locale][weekday]} ${+d}. ${MONTHS[locale][+m - 1]} ${y}`;
  const e = end ? ISO.exec(end) : null;
  const until = e && e[1] === y && e[2] === m && e[3] === d ? `–${e[4]}:${e[5]}` : "";
  return `${date}, ${hh}:${mm}${until}`;
}

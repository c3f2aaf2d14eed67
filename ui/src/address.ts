// Whether a server address would carry the token in the clear to another machine: plain
// http:// to a host that is not this one (localhost, 127.0.0.0/8, [::1]). The sign-in screen
// warns before the token is sent.
export function inClearToAnotherHost(url: string): boolean {
  const text = url.trim();
  if (!/^http:\/\//i.test(text)) return false;
  const authority = text.slice(7).split(/[/?#]/)[0] ?? "";
  const hostPort = authority.split("@").pop() ?? "";
  const host = (hostPort.startsWith("[") ? hostPort.slice(1).split("]")[0] : hostPort.split(":")[0]) ?? "";
  const h = host.toLowerCase();
  const loopback = h === "localhost" || h.endsWith(".localhost") || /^127(\.\d{1,3}){3}$/.test(h) || h === "::1";
  return !loopback;
}

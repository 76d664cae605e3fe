/**
 * Test helper: one sample's value from Prometheus exposition text, by metric name and a subset of
 * its labels (undefined when no line matches).
 */
export function metricSample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelPart = line.slice(name.length).split(' ')[0]!;
    if (want.every((w) => labelPart.includes(w))) return Number(line.split(' ').pop());
  }
  return undefined;
}

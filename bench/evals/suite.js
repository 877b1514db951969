// The eval benchmark's suite: N cases (default 200) for the travel planner, one per trip
// "<d> days in <city> in <month>" over the 25 cities of its atlas, 2-6 days, every month. Each
// case has the scorers the planner's own suite uses (examples/travel-planner/evals): a strict
// trajectory with argument matchers, a title regex, contains / not_contains, max_steps and
// stop_reason, so the harness pays for real scoring, not for an empty expectation list.
// Every case passes on the offline rule model; the benchmark checks that, so a harness that
// stops scoring (or a model that changed) shows as a failure rather than as a speed-up.

export const CITIES = [
  'Lisbon',
  'Porto',
  'Paris',
  'Rome',
  'Barcelona',
  'Madrid',
  'London',
  'Berlin',
  'Amsterdam',
  'Prague',
  'Vienna',
  'Tokyo',
  'Kyoto',
  'New York',
  'San Francisco',
  'Mexico City',
  'Buenos Aires',
  'Cape Town',
  'Marrakech',
  'Istanbul',
  'Athens',
  'Bangkok',
  'Singapore',
  'Sydney',
  'Reykjavik',
];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** The i-th trip of the suite. */
export function trip(index) {
  const city = CITIES[index % CITIES.length];
  // Offsets that are coprime with 25 and 12, so cities, durations and months mix.
  const days = 2 + ((index * 3) % 5);
  const month = MONTHS[(index * 7 + Math.floor(index / CITIES.length)) % MONTHS.length];
  return {
    id: `trip-${String(index + 1).padStart(3, '0')}`,
    city,
    days,
    month,
    input: `${days} days in ${city} in ${month}`,
  };
}

const escapeRegex = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The suite as YAML text (what `keel eval` reads), parsed by Keel's own `parseSuite`. */
export function suiteYaml(count) {
  const lines = ['name: bench-travel', 'agent: travel-planner', 'cases:'];
  for (let index = 0; index < count; index++) {
    const { id, city, days, month, input } = trip(index);
    lines.push(
      `  - id: ${id}`,
      `    input: ${JSON.stringify(input)}`,
      '    tags: [bench]',
      '    expect:',
      '      - trajectory:',
      '          mode: strict',
      '          steps:',
      `            - { name: geocode, arguments: { city: ${JSON.stringify(city)} } }`,
      `            - { name: weather, arguments: { month: ${month} } }`,
      `            - { name: places, arguments: { city: ${JSON.stringify(city)} } }`,
      `      - regex: { pattern: ${JSON.stringify(`^# ${escapeRegex(city)}, .+: ${days} days in ${month}\\n`)} }`,
      `      - contains: ['## Day ${days}', 'not a forecast']`,
      `      - not_contains: '## Day ${days + 1}'`,
      '      - max_steps: 7',
      '      - stop_reason: completed',
    );
  }
  return `${lines.join('\n')}\n`;
}

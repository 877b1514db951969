/**
 * An offline stand-in for an LLM that plans trips with the travel planner's tools, so the example
 * runs without an API key. It is a rule model: every answer is derived from the request alone
 * (never the clock or a counter), so a replayed run gets the same plan, word for word.
 *
 * The conversation it drives: geocode the destination; then weather and places in parallel; then
 * a day-by-day Markdown itinerary. Failed or missing tools degrade the plan instead of ending it.
 */
import { contentText, createRuleModel, registerBuiltinModel, z } from 'keel';
import type {
  BuiltinModelOptions,
  LanguageModel,
  Message,
  ModelRule,
  RuleContext,
  RuleToolResult,
} from 'keel';
import { CITIES, MONTH_NAMES, monthName, normalizeName } from './data.js';
import type { City } from './data.js';

/** Days planned when the user names no duration, and the most the planner will lay out. */
export const DEFAULT_DAYS = 3;
export const MAX_DAYS = 14;
/** Used when the user names no month: a fixed shoulder month, because "now" would not replay. */
export const DEFAULT_MONTH = 9;

/** A season, mapped to a month by hemisphere. */
export type Season = 'spring' | 'summer' | 'autumn' | 'winter';

/** A trip as asked for in the user's messages. */
export interface TripRequest {
  /** The atlas city named, if any. */
  city: string | undefined;
  /** A capitalized place name that is not in the atlas ("3 days in Atlantis"). */
  unknownPlace: string | undefined;
  /** Days to plan, 1 to MAX_DAYS. */
  days: number;
  /** What the user asked for when it was more than MAX_DAYS. */
  requestedDays: number | undefined;
  month: number | undefined;
  season: Season | undefined;
  /** The user asked to book or reserve something, which the planner has no tool for. */
  bookingAsked: boolean;
}

/** Options of `createTravelPlannerModel`. */
export type TravelPlannerModelOptions = Pick<BuiltinModelOptions, 'latencyMs'>;

/** The offline travel planner model; also registered as the built-in model `travel-planner`. */
export function createTravelPlannerModel({ latencyMs = 0 }: TravelPlannerModelOptions = {}): LanguageModel {
  return createRuleModel({ modelId: 'travel-planner', latencyMs, rules: RULES });
}

registerBuiltinModel('travel-planner', () => createTravelPlannerModel());

/**
 * Reads a trip from the conversation: each field from the latest user message that states it, so
 * "make it 5 days" keeps the city of the first message.
 */
export function parseTripRequest(messages: readonly Message[]): TripRequest {
  const texts = messages
    .flatMap((message) => (message.role === 'user' ? [contentText(message.content)] : []))
    .reverse();
  const first = <T>(read: (text: string) => T | undefined): T | undefined => {
    for (const text of texts) {
      const value = read(text);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const destination = first((text) => {
    const city = findCityIn(text);
    if (city) return { city: city.name, unknownPlace: undefined };
    const unknownPlace = findPlaceNameIn(text);
    return unknownPlace ? { city: undefined, unknownPlace } : undefined;
  });
  const asked = first(parseDays);
  const when = first(parseWhen);
  return {
    city: destination?.city,
    unknownPlace: destination?.unknownPlace,
    days: Math.min(Math.max(asked ?? DEFAULT_DAYS, 1), MAX_DAYS),
    requestedDays: asked !== undefined && asked > MAX_DAYS ? asked : undefined,
    month: when?.month,
    season: when?.season,
    bookingAsked: texts.some(asksToBook),
  };
}

/**
 * "Book me a hotel", "reserve a table", "can you make the bookings": the planner can only plan,
 * so the answer must say nothing was booked rather than leave the user to assume it was.
 * Nouns such as "bookshop" do not count.
 */
const BOOKING_REQUEST =
  /\b(?:book|reserve|buy)\b(?:\s+[\w'-]+){0,3}?\s+(?:hotels?|rooms?|flights?|tickets?|tables?|trains?|stays?|accommodations?|apartments?|hostels?|tours?|cars?|seats?|everything)\b|\b(?:bookings?|reservations?)\b/i;

function asksToBook(text: string): boolean {
  return BOOKING_REQUEST.test(text);
}

/** Said whenever the user asked to book: the planner has no booking tool and never pretends to. */
const BOOKING_NOTE =
  "I can't book or reserve anything (hotels, flights, tickets or tables): I only plan, and nothing has been booked. Use this plan to book with the providers you choose.";

// prettier-ignore
const NUMBER_WORDS: Record<string, number> = {
  a: 1, an: 1, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, twenty: 20, thirty: 30,
};

const DURATIONS: { pattern: RegExp; days: (match: RegExpExecArray) => number }[] = [
  {
    pattern: new RegExp(
      `\\b(\\d{1,3}|${Object.keys(NUMBER_WORDS).join('|')})[\\s-]*(?:full\\s+)?(days?|nights?|weeks?)\\b`,
      'g',
    ),
    days: (match) => {
      const count = Number(match[1]) || NUMBER_WORDS[match[1] ?? ''] || 1;
      const unit = match[2] ?? 'day';
      // Four nights away is five days of travel.
      return unit.startsWith('week') ? count * 7 : unit.startsWith('night') ? count + 1 : count;
    },
  },
  { pattern: /\b(?:a\s+)?couple\s+(?:of\s+)?days\b/g, days: () => 2 },
  { pattern: /\b(?:a\s+)?few\s+days\b/g, days: () => 3 },
  { pattern: /\bfortnight\b/g, days: () => 14 },
  { pattern: /\blong\s+weekend\b/g, days: () => 3 },
  { pattern: /\bweekend\b/g, days: () => 2 },
];

/** Days asked for in a text ("3 days", "a week", "weekend"), the earliest mention winning. */
function parseDays(text: string): number | undefined {
  const lower = text.toLowerCase();
  let best: { index: number; days: number } | undefined;
  for (const { pattern, days } of DURATIONS) {
    pattern.lastIndex = 0;
    const match = pattern.exec(lower);
    // Ties go to the earlier pattern: "long weekend" before "weekend".
    if (match && (!best || match.index < best.index)) best = { index: match.index, days: days(match) };
  }
  return best?.days;
}

const MONTH_WORDS = new Map<string, number>([
  ...MONTH_NAMES.map((name, index) => [name.toLowerCase(), index + 1] as const),
  ...['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'].map(
    (abbreviation, index) => [abbreviation, index + 1] as const,
  ),
  ['sept', 9],
]);

const SEASONS = new Set<string>(['spring', 'summer', 'autumn', 'winter']);
const DATE_CUE = /\b(in|early|late|mid|during|of|this|next|the)[\s-]+$/;

/** The month or season a text names, the first mention winning. */
function parseWhen(text: string): { month?: number; season?: Season } | undefined {
  for (const match of text.matchAll(/\b([A-Za-z]{3,9})\b/g)) {
    const word = match[1] ?? '';
    const lower = word.toLowerCase();
    const dated = DATE_CUE.test(text.slice(0, match.index).toLowerCase());
    const month = MONTH_WORDS.get(lower);
    // Lowercase "may" is usually the verb ("I may go"); "in may" is the month. Same for "fall".
    if (month !== undefined && (word !== 'may' || dated)) return { month };
    if (SEASONS.has(lower)) return { season: lower as Season };
    if (lower === 'fall' && dated) return { season: 'autumn' };
  }
  return undefined;
}

/** The atlas city mentioned first (not counting "from X" when another city is named). */
function findCityIn(text: string): City | undefined {
  const normalized = ` ${normalizeName(text)} `;
  const mentions: { city: City; index: number; origin: boolean }[] = [];
  for (const city of CITIES) {
    for (const name of [city.name, ...city.aliases]) {
      const escaped = normalizeName(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const match = new RegExp(`[^a-z0-9]${escaped}(?=[^a-z0-9])`).exec(normalized);
      if (!match) continue;
      const origin = /\bfrom\s*$/.test(normalized.slice(0, match.index + 1));
      mentions.push({ city, index: match.index, origin });
    }
  }
  const destinations = mentions.some((mention) => !mention.origin)
    ? mentions.filter((mention) => !mention.origin)
    : mentions;
  return destinations.sort((left, right) => left.index - right.index)[0]?.city;
}

const NOT_PLACES = new Set([
  ...MONTH_WORDS.keys(),
  ...['spring', 'summer', 'autumn', 'fall', 'winter', 'christmas', 'easter'],
  ...['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'],
]);

/** A capitalized name after "in", "to" or "visit": a destination the atlas may not know. */
function findPlaceNameIn(text: string): string | undefined {
  const pattern =
    /\b(?:in|to|visit|visiting|explore|around)\s+(\p{Lu}[\p{L}'’-]*(?:\s+\p{Lu}[\p{L}'’-]*){0,2})/gu;
  for (const match of text.matchAll(pattern)) {
    // "in Atlantis In May" names Atlantis: the name stops at the first word that is a date.
    const words: string[] = [];
    for (const word of (match[1] ?? '').split(/\s+/)) {
      if (NOT_PLACES.has(word.toLowerCase())) break;
      words.push(word);
    }
    if (words.length > 0) return words.join(' ');
  }
  return undefined;
}

/** The month to plan for, and whether it was assumed. Seasons flip south of the equator. */
function resolveMonth({ trip, lat }: { trip: TripRequest; lat: number | undefined }): {
  month: number;
  assumed: boolean;
} {
  if (trip.month !== undefined) return { month: trip.month, assumed: false };
  if (trip.season !== undefined) {
    const northern = { spring: 4, summer: 7, autumn: 10, winter: 1 }[trip.season];
    return { month: lat !== undefined && lat < 0 ? ((northern + 5) % 12) + 1 : northern, assumed: false };
  }
  return { month: DEFAULT_MONTH, assumed: true };
}

// Tool results are outside data to this model: read them through lenient schemas.
const geocodeResult = z.object({ name: z.string(), country: z.string(), lat: z.number(), lon: z.number() });
const weatherResult = z.object({ avgHighC: z.number(), avgLowC: z.number(), rainyDays: z.number() });
const placesResult = z.object({
  places: z.array(
    z.object({ name: z.string(), kind: z.string(), indoor: z.boolean(), note: z.string().catch('') }),
  ),
});
const errorResult = z.object({ error: z.union([z.string(), z.object({ message: z.string() })]) });

type Location = z.infer<typeof geocodeResult>;
type Weather = z.infer<typeof weatherResult>;
type PlaceView = z.infer<typeof placesResult>['places'][number];

/** A tool's outcome as the planner uses it: a value, a failure reason, or not asked yet. */
type Outcome<T> = { value: T } | { error: string } | undefined;

function outcome<T>(result: RuleToolResult | undefined, schema: z.ZodType<T>): Outcome<T> {
  if (!result) return undefined;
  if (result.isError) {
    const parsed = errorResult.safeParse(result.value);
    const reason = parsed.success
      ? typeof parsed.data.error === 'string'
        ? parsed.data.error
        : parsed.data.error.message
      : result.content;
    return { error: reason.slice(0, 200) };
  }
  const parsed = schema.safeParse(result.value);
  return parsed.success ? { value: parsed.data } : { error: 'the tool returned something unexpected' };
}

function valueOf<T>(result: Outcome<T>): T | undefined {
  return result && 'value' in result ? result.value : undefined;
}

function errorOf(result: Outcome<unknown>): string | undefined {
  return result && 'error' in result ? result.error : undefined;
}

/** Everything the rules decide from, read once per request. */
interface PlannerState {
  trip: TripRequest;
  destination: string | undefined;
  offers: (tool: string) => boolean;
  geocode: Outcome<Location>;
  weather: Outcome<Weather>;
  places: Outcome<PlaceView[]>;
}

const states = new WeakMap<RuleContext, PlannerState>();

function stateOf(context: RuleContext): PlannerState {
  let state = states.get(context);
  if (!state) {
    const trip = parseTripRequest(context.messages);
    const offered = new Set(context.tools.map((tool) => tool.name));
    const places = outcome(context.toolResults.places, placesResult);
    state = {
      trip,
      destination: trip.city ?? trip.unknownPlace,
      offers: (tool) => offered.has(tool),
      geocode: outcome(context.toolResults.geocode, geocodeResult),
      weather: outcome(context.toolResults.weather, weatherResult),
      places: places && 'value' in places ? { value: places.value.places } : places,
    };
    states.set(context, state);
  }
  return state;
}

function knownCities(): string {
  return CITIES.map((city) => city.name).join(', ');
}

/** The calls of the research turn: weather and places together, whichever are offered and due. */
function researchCalls(state: PlannerState): { name: string; arguments: Record<string, unknown> }[] {
  const location = valueOf(state.geocode);
  const city = location?.name ?? state.trip.city;
  const calls: { name: string; arguments: Record<string, unknown> }[] = [];
  if (location && state.offers('weather') && !state.weather) {
    const { month } = resolveMonth({ trip: state.trip, lat: location.lat });
    calls.push({
      name: 'weather',
      arguments: { lat: location.lat, lon: location.lon, month: monthName(month) },
    });
  }
  if (city && state.offers('places') && !state.places) calls.push({ name: 'places', arguments: { city } });
  return calls;
}

const RULES: ModelRule[] = [
  {
    name: 'ask-destination',
    when: (context) => {
      const { trip } = stateOf(context);
      return !trip.city && !(trip.unknownPlace && stateOf(context).offers('geocode'));
    },
    reply: (context) => {
      const { trip } = stateOf(context);
      const opening = trip.unknownPlace
        ? `I don't have ${trip.unknownPlace} in my offline atlas.`
        : 'Where would you like to go?';
      return (
        `${opening} I can plan trips to: ${knownCities()}. ` +
        'Tell me the city, how many days and which month, for example "3 days in Lisbon in May".' +
        (trip.bookingAsked ? ` ${BOOKING_NOTE}` : '')
      );
    },
  },
  {
    name: 'geocode',
    when: (context) => stateOf(context).offers('geocode') && !stateOf(context).geocode,
    reply: (context) => {
      const { destination } = stateOf(context);
      return {
        text: `Looking up ${destination}.`,
        toolCalls: [{ name: 'geocode', arguments: { city: destination } }],
      };
    },
  },
  {
    name: 'unknown-destination',
    when: (context) => errorOf(stateOf(context).geocode) !== undefined,
    reply: (context) => {
      const { destination, geocode, trip } = stateOf(context);
      return (
        `I couldn't find "${destination}" (${errorOf(geocode)}). I can plan trips to: ${knownCities()}. ` +
        'Which one would you like, for how many days and in which month?' +
        (trip.bookingAsked ? ` ${BOOKING_NOTE}` : '')
      );
    },
  },
  {
    name: 'research',
    when: (context) => researchCalls(stateOf(context)).length > 0,
    reply: (context) => {
      const state = stateOf(context);
      const calls = researchCalls(state);
      const city = valueOf(state.geocode)?.name ?? state.trip.city;
      const parts = calls.map((call) =>
        call.name === 'weather' ? `the ${String(call.arguments.month)} weather` : 'places to visit',
      );
      return { text: `Checking ${parts.join(' and ')} for ${city}.`, toolCalls: calls };
    },
  },
  { name: 'itinerary', when: () => true, reply: (context) => writeItinerary(stateOf(context)) },
];

/** Weather as advice: whether to lean indoors, and one sentence saying why. */
function conditionsOf(weather: Weather | undefined): { indoorBias: boolean; advice: string } {
  if (!weather) return { indoorBias: true, advice: '' };
  const hot = weather.avgHighC >= 30;
  const cold = weather.avgHighC <= 7;
  const rainy = weather.rainyDays >= 12;
  const advice =
    hot && rainy
      ? 'Hot and often wet: indoor picks first, outdoor ones early in the day.'
      : hot
        ? 'Hot: outdoor sights in the morning, indoor ones through the midday heat.'
        : cold
          ? `Cold${rainy ? ' and often wet' : ''}: mostly indoor picks, with short outdoor stretches.`
          : rainy
            ? 'Often rainy: indoor picks first, outdoor ones for the dry spells.'
            : 'Good walking weather: outdoor sights in the mornings, indoor ones after lunch.';
  return { indoorBias: rainy || cold, advice };
}

function packingList(weather: Weather | undefined): string[] {
  const items = ['Comfortable walking shoes.'];
  if (!weather) return [...items, 'Layers and a compact umbrella until you have seen the forecast.'];
  if (weather.avgLowC <= 2) items.push('A warm coat, hat and gloves.');
  else if (weather.avgHighC <= 12) items.push('Warm layers and a jacket.');
  else if (weather.avgHighC >= 28) items.push('Light, breathable clothes, a sun hat and sunscreen.');
  else items.push('Layers: mild days, cooler evenings.');
  if (weather.rainyDays >= 8) items.push('A compact umbrella or a rain jacket.');
  if (weather.avgHighC >= 28) items.push('A refillable water bottle.');
  return items;
}

const SLOW_MORNINGS = [
  'Slow start: breakfast at a local café, then wander without a plan.',
  'Slow start: a late breakfast near where you stay, then a walk to get your bearings.',
];
const FREE_TIME = [
  'Free time: revisit a favourite spot or explore a neighbourhood you passed through.',
  'Free time: a long lunch and an unhurried walk.',
  'Free time: browse local shops, or rest before the evening.',
];
const INDOOR_FREE_TIME = [
  'Free time for a café, a bookshop or a market hall.',
  'Free time: a long lunch somewhere warm and dry.',
  'Free time: rest, or revisit a favourite indoor spot.',
];
const MEAL_IDEAS = [
  'Dinner near where you stay; ask your host for a favourite.',
  'Try a neighbourhood restaurant away from the main sights.',
  'Street food or a market dinner: ask locals where they eat.',
];

function pick(options: readonly string[], day: number): string {
  return options[day % options.length] ?? '';
}

function describePlace(place: PlaceView): string {
  return `${place.name} (${place.kind})${place.note ? ` — ${place.note}` : ''}`;
}

/** Takes the first place of the preferred setting, else of the other one. */
function take(pool: PlaceView[], prefer: 'indoor' | 'outdoor' | 'any'): PlaceView | undefined {
  const index = pool.findIndex((place) => prefer === 'any' || place.indoor === (prefer === 'indoor'));
  return pool.splice(index === -1 ? 0 : index, 1)[0];
}

/** The final answer: a title, the weather, notes on what was assumed or missing, days, packing. */
function writeItinerary(state: PlannerState): string {
  const { trip, geocode, weather, places } = state;
  const location = valueOf(geocode);
  const city = location?.name ?? trip.city ?? 'your destination';
  const { month, assumed } = resolveMonth({ trip, lat: location?.lat });
  const climate = valueOf(weather);
  const { indoorBias, advice } = conditionsOf(climate);
  const days = trip.days === 1 ? '1 day' : `${trip.days} days`;

  const lines = [`# ${city}${location ? `, ${location.country}` : ''}: ${days} in ${monthName(month)}`, ''];
  if (climate) {
    lines.push(
      `**Weather in ${monthName(month)}:** highs around ${climate.avgHighC} °C, lows around ` +
        `${climate.avgLowC} °C, rain on about ${climate.rainyDays} days of the month. ${advice}`,
    );
  } else {
    const reason = errorOf(weather) === undefined ? '' : ` (${errorOf(weather)})`;
    lines.push(
      `**Weather:** live weather is unavailable${reason}, so this plan favours indoor options. ` +
        'Check the forecast before you go.',
    );
  }
  const notes = [
    trip.bookingAsked && BOOKING_NOTE,
    assumed &&
      `You didn't say when you're travelling, so I planned for ${monthName(month)}. Tell me your month and I'll adjust.`,
    trip.requestedDays !== undefined &&
      `You asked for ${trip.requestedDays} days; I planned the first ${trip.days}. Ask again for the rest.`,
    errorOf(places) !== undefined &&
      `I couldn't load places to visit (${errorOf(places)}), so the days below are a loose outline.`,
  ];
  for (const note of notes) if (note) lines.push('', `_${note}_`);

  lines.push(...writeDays({ days: trip.days, places: valueOf(places) ?? [], indoorBias }));
  lines.push('', '## Packing', ...packingList(climate).map((item) => `- ${item}`));
  if (climate) {
    lines.push(
      '',
      '_Weather figures are long-term averages, not a forecast: check it a few days before you leave._',
    );
  }
  return lines.join('\n');
}

/**
 * One section per day, then what did not fit. Sights are spread evenly (at most two a day), day
 * trips go one per three days and never on the first, and each day gets one food stop.
 */
function writeDays({
  days,
  places,
  indoorBias,
}: {
  days: number;
  places: PlaceView[];
  indoorBias: boolean;
}): string[] {
  const sights = places.filter((place) => place.kind !== 'food' && place.kind !== 'day-trip');
  const food = places.filter((place) => place.kind === 'food');
  const dayTrips = places.filter((place) => place.kind === 'day-trip');
  const tripCount = Math.min(dayTrips.length, Math.floor(days / 3));
  const tripDays = new Map(
    dayTrips.slice(0, tripCount).map((place, k) => [Math.floor(((k + 1) * days) / (tripCount + 1)), place]),
  );
  const cityDays = days - tripCount;
  const sightCount = sights.length;

  const lines: string[] = [];
  let cityDay = 0;
  for (let day = 0; day < days; day++) {
    lines.push('', `## Day ${day + 1}`);
    const dayTrip = tripDays.get(day);
    const visited: PlaceView[] = [];
    if (dayTrip) {
      lines.push(`- **All day:** day trip to ${describePlace(dayTrip)}`);
    } else {
      const quota = Math.min(
        2,
        Math.floor(sightCount / cityDays) + (cityDay < sightCount % cityDays ? 1 : 0),
      );
      cityDay += 1;
      // Outdoors in the cooler, drier morning; indoors in the afternoon; indoors all day when bad.
      const morning = quota >= 1 ? take(sights, indoorBias ? 'indoor' : 'outdoor') : undefined;
      const afternoon = quota >= 2 ? take(sights, 'indoor') : undefined;
      visited.push(...(morning ? [morning] : []), ...(afternoon ? [afternoon] : []));
      lines.push(
        `- **Morning:** ${morning ? describePlace(morning) : pick(SLOW_MORNINGS, day)}`,
        `- **Afternoon:** ${afternoon ? describePlace(afternoon) : pick(indoorBias ? INDOOR_FREE_TIME : FREE_TIME, day)}`,
      );
    }
    const meal = take(food, indoorBias ? 'indoor' : 'any');
    const quarter = visited.find((place) => place.kind === 'neighborhood');
    const mealIdea = quarter ? `Dinner in ${quarter.name}: stay on after dark.` : pick(MEAL_IDEAS, day);
    lines.push(`- **Food stop:** ${meal ? describePlace(meal) : mealIdea}`);
    if (day === days - 1 && days > 1) lines.push('- Leave time to pack and reach the station or airport.');
  }

  const extra = [...sights, ...dayTrips.slice(tripCount)];
  if (extra.length > 0)
    lines.push('', '## If you have more time', ...extra.map((place) => `- ${describePlace(place)}`));
  return lines;
}

/**
 * The travel planner's tools, answering from the offline atlas in `data.ts`. They are pure reads
 * (effect `none`), so Keel may repeat them freely; the small timeouts are what a real weather or
 * maps API would get.
 */
import { defineTool, z } from 'keel';
import { CITIES, PLACE_KINDS, findCity, monthName, nearestCity, parseMonth } from './data.js';

/** Climate data further than this from the asked point would mislead more than help. */
const MAX_WEATHER_DISTANCE_KM = 300;

function unknownCityMessage(city: string): string {
  const examples = CITIES.slice(0, 8).map((known) => known.name);
  return `Unknown city "${city}". The offline atlas knows ${CITIES.length} cities, e.g. ${examples.join(', ')}.`;
}

/** Finds a city's coordinates. Fails with a list of known cities for a city it does not know. */
export const geocodeTool = defineTool({
  name: 'geocode',
  description: 'Find a city by name. Returns its canonical name, country, latitude, longitude and time zone.',
  input: z.object({ city: z.string().min(1).max(100).describe('City name, e.g. "Lisbon"') }),
  timeoutMs: 2_000,
  run: ({ city }) => {
    const found = findCity(city);
    if (!found) throw new Error(unknownCityMessage(city));
    return {
      name: found.name,
      country: found.country,
      lat: found.lat,
      lon: found.lon,
      timezone: found.timezone,
    };
  },
});

/** Monthly climate normals (not a forecast) of the atlas city nearest to a point. */
export const weatherTool = defineTool({
  name: 'weather',
  description:
    'Typical weather for a place and month: average high and low in °C and rainy days, from long-term ' +
    'climate normals of the nearest known city. Not a forecast.',
  input: z.object({
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
    month: z
      .union([
        z.number().int().min(1).max(12),
        z
          .string()
          .refine((value) => parseMonth(value) !== undefined, 'must be a month name such as "May" or "sep"'),
      ])
      .describe('Month as a name ("May", "sep") or a number 1-12'),
  }),
  timeoutMs: 2_000,
  run: ({ lat, lon, month }) => {
    const { city, distanceKm } = nearestCity({ lat, lon });
    if (distanceKm > MAX_WEATHER_DISTANCE_KM) {
      throw new Error(`No climate data within ${MAX_WEATHER_DISTANCE_KM} km of ${lat}, ${lon}.`);
    }
    // The schema accepted it, so it parses.
    const monthNumber = parseMonth(month) as number;
    const index = monthNumber - 1;
    return {
      nearestCity: city.name,
      distanceKm: Math.round(distanceKm),
      month: monthName(monthNumber),
      avgHighC: city.climate.highC[index],
      avgLowC: city.climate.lowC[index],
      rainyDays: city.climate.rainyDays[index],
      source: 'climate normals (long-term monthly averages), not a forecast',
    };
  },
});

/** Places worth visiting in a city, optionally filtered by kind or to indoor ones. */
export const placesTool = defineTool({
  name: 'places',
  description:
    'Places to visit in a city: sights, museums, food, parks, neighborhoods and day trips, each with ' +
    'whether it is indoors and a short note.',
  input: z.object({
    city: z.string().min(1).max(100),
    kinds: z.array(z.enum(PLACE_KINDS)).optional().describe('Only these kinds (default: all)'),
    indoorOnly: z.boolean().optional().describe('Only indoor places, for rain, cold or heat'),
  }),
  timeoutMs: 2_000,
  run: ({ city, kinds, indoorOnly }) => {
    const found = findCity(city);
    if (!found) throw new Error(unknownCityMessage(city));
    const places = found.places.filter(
      (place) => (!kinds || kinds.includes(place.kind)) && (!indoorOnly || place.indoor),
    );
    return { city: found.name, places };
  },
});

/** The travel planner's tools, in the order they are offered. */
export const travelTools = [geocodeTool, weatherTool, placesTool];

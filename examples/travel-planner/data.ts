/**
 * The travel planner's offline atlas: 25 cities with coordinates, monthly climate normals and a
 * short list of places each. Figures are rounded long-term averages from memory, good enough for a
 * demo and stable forever, which is the point: the example must run without network or API keys.
 */

/** Every kind of place, in the order the tools document them. */
export const PLACE_KINDS = ['sight', 'museum', 'food', 'park', 'neighborhood', 'day-trip'] as const;

/** What kind of visit a place is; the planner spreads kinds over the days. */
export type PlaceKind = (typeof PLACE_KINDS)[number];

/** A place worth a visit. `indoor` is what the planner leans on in rain, cold or heat. */
export interface Place {
  name: string;
  kind: PlaceKind;
  indoor: boolean;
  note: string;
}

/** Monthly normals, January first: average high and low in °C, days with rain (≥ 1 mm). */
export interface Climate {
  highC: readonly number[];
  lowC: readonly number[];
  rainyDays: readonly number[];
}

/** A city of the atlas. `aliases` are other spellings users type (local names, abbreviations). */
export interface City {
  name: string;
  country: string;
  lat: number;
  lon: number;
  timezone: string;
  aliases: readonly string[];
  climate: Climate;
  places: readonly Place[];
}

/** English month names, January first. */
export const MONTH_NAMES: readonly string[] = [
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

/** The atlas. One line per place reads as a table, hence no reformatting. */
// prettier-ignore
export const CITIES: readonly City[] = [
  {
    name: 'Lisbon',
    country: 'Portugal',
    lat: 38.7223,
    lon: -9.1393,
    timezone: 'Europe/Lisbon',
    aliases: ['Lisboa'],
    climate: {
      highC: [15, 16, 19, 20, 22, 26, 28, 29, 27, 23, 18, 15],
      lowC: [8, 9, 11, 12, 14, 17, 18, 19, 18, 15, 12, 9],
      rainyDays: [10, 9, 8, 9, 6, 2, 1, 1, 3, 8, 10, 11],
    },
    places: [
      { name: 'Alfama', kind: 'neighborhood', indoor: false, note: 'Steep lanes, fado bars and the Santa Luzia viewpoint.' },
      { name: 'São Jorge Castle', kind: 'sight', indoor: false, note: 'Moorish ramparts above the city.' },
      { name: 'Belém Tower', kind: 'sight', indoor: false, note: 'Riverside fortress of the Age of Discoveries.' },
      { name: 'Jerónimos Monastery', kind: 'sight', indoor: true, note: 'Manueline cloister; go early to skip the queue.' },
      { name: 'Calouste Gulbenkian Museum', kind: 'museum', indoor: true, note: 'Egypt to Lalique in a modernist garden.' },
      { name: 'National Tile Museum', kind: 'museum', indoor: true, note: 'Five centuries of azulejos in a convent.' },
      { name: 'LX Factory', kind: 'neighborhood', indoor: false, note: 'Old textile mill turned shops, cafés and bookshop.' },
      { name: 'Time Out Market', kind: 'food', indoor: true, note: 'Food hall with stalls from well-known local chefs.' },
      { name: 'Pastéis de Belém', kind: 'food', indoor: true, note: 'The original custard tarts since 1837.' },
      { name: 'Sintra', kind: 'day-trip', indoor: false, note: 'Pena Palace and misty hill gardens, 40 min by train.' },
    ],
  },
  {
    name: 'Porto',
    country: 'Portugal',
    lat: 41.1579,
    lon: -8.6291,
    timezone: 'Europe/Lisbon',
    aliases: ['Oporto'],
    climate: {
      highC: [14, 15, 17, 18, 20, 23, 25, 25, 24, 21, 17, 14],
      lowC: [5, 6, 8, 9, 12, 14, 16, 16, 15, 12, 9, 7],
      rainyDays: [14, 12, 11, 12, 10, 5, 3, 3, 6, 11, 13, 15],
    },
    places: [
      { name: 'Ribeira', kind: 'neighborhood', indoor: false, note: 'Colourful riverfront quarter, a UNESCO site.' },
      { name: 'Dom Luís I Bridge', kind: 'sight', indoor: false, note: 'Walk the upper deck for the best views.' },
      { name: 'Livraria Lello', kind: 'sight', indoor: true, note: 'Neo-Gothic bookshop with a famous staircase.' },
      { name: 'Port cellars of Vila Nova de Gaia', kind: 'sight', indoor: true, note: 'Tours and tastings in the lodges.' },
      { name: 'Serralves Museum', kind: 'museum', indoor: true, note: 'Contemporary art by Álvaro Siza, with a park.' },
      { name: 'Crystal Palace Gardens', kind: 'park', indoor: false, note: 'Peacocks and views over the Douro.' },
      { name: 'Mercado do Bolhão', kind: 'food', indoor: true, note: 'Restored 19th-century market hall.' },
      { name: 'Café Santiago', kind: 'food', indoor: true, note: 'A classic francesinha sandwich.' },
      { name: 'Douro Valley', kind: 'day-trip', indoor: false, note: 'Terraced vineyards and quintas upriver.' },
    ],
  },
  {
    name: 'Paris',
    country: 'France',
    lat: 48.8566,
    lon: 2.3522,
    timezone: 'Europe/Paris',
    aliases: [],
    climate: {
      highC: [7, 9, 13, 16, 20, 23, 26, 25, 21, 16, 11, 8],
      lowC: [3, 3, 5, 8, 11, 14, 16, 16, 13, 10, 6, 4],
      rainyDays: [10, 9, 10, 9, 9, 8, 7, 7, 7, 9, 10, 11],
    },
    places: [
      { name: 'Louvre', kind: 'museum', indoor: true, note: 'Book a timed entry; pick two wings, not ten.' },
      { name: "Musée d'Orsay", kind: 'museum', indoor: true, note: 'Impressionists in a Beaux-Arts railway station.' },
      { name: 'Sainte-Chapelle', kind: 'sight', indoor: true, note: 'Walls of 13th-century stained glass.' },
      { name: 'Eiffel Tower', kind: 'sight', indoor: false, note: 'Go up at dusk, or just picnic on the Champ de Mars.' },
      { name: 'Le Marais', kind: 'neighborhood', indoor: false, note: 'Mansions, galleries and Place des Vosges.' },
      { name: 'Montmartre', kind: 'neighborhood', indoor: false, note: 'Sacré-Cœur and village lanes on the hill.' },
      { name: 'Jardin du Luxembourg', kind: 'park', indoor: false, note: 'Formal gardens and the Medici Fountain.' },
      { name: 'Marché des Enfants Rouges', kind: 'food', indoor: true, note: 'The oldest covered market in Paris.' },
      { name: 'Bouillon Chartier', kind: 'food', indoor: true, note: 'Belle Époque dining hall with classic dishes.' },
      { name: 'Versailles', kind: 'day-trip', indoor: true, note: 'Palace and Hall of Mirrors, 40 min by RER C.' },
    ],
  },
  {
    name: 'Rome',
    country: 'Italy',
    lat: 41.9028,
    lon: 12.4964,
    timezone: 'Europe/Rome',
    aliases: ['Roma'],
    climate: {
      highC: [12, 14, 16, 19, 24, 28, 31, 32, 27, 22, 17, 13],
      lowC: [3, 4, 6, 9, 13, 16, 19, 19, 16, 12, 8, 4],
      rainyDays: [7, 7, 7, 8, 5, 3, 2, 2, 5, 7, 9, 8],
    },
    places: [
      { name: 'Colosseum and Roman Forum', kind: 'sight', indoor: false, note: 'One ticket; start early, bring water.' },
      { name: 'Vatican Museums', kind: 'museum', indoor: true, note: 'Ends in the Sistine Chapel; closed Sundays.' },
      { name: 'Pantheon', kind: 'sight', indoor: true, note: 'The best-preserved dome of antiquity.' },
      { name: 'Borghese Gallery', kind: 'museum', indoor: true, note: 'Bernini and Caravaggio; booking required.' },
      { name: 'Trastevere', kind: 'neighborhood', indoor: false, note: 'Ivy-covered lanes and lively piazzas.' },
      { name: 'Villa Borghese gardens', kind: 'park', indoor: false, note: 'Pincio terrace at sunset.' },
      { name: 'Testaccio Market', kind: 'food', indoor: true, note: 'Covered market for Roman street food.' },
      { name: "Campo de' Fiori", kind: 'food', indoor: false, note: 'Morning market, aperitivo in the evening.' },
      { name: 'Tivoli', kind: 'day-trip', indoor: false, note: "Villa d'Este fountains and Hadrian's Villa." },
    ],
  },
  {
    name: 'Barcelona',
    country: 'Spain',
    lat: 41.3874,
    lon: 2.1686,
    timezone: 'Europe/Madrid',
    aliases: [],
    climate: {
      highC: [14, 15, 17, 19, 22, 26, 28, 29, 26, 22, 17, 14],
      lowC: [5, 6, 8, 10, 14, 17, 21, 21, 18, 14, 9, 6],
      rainyDays: [5, 4, 5, 6, 6, 4, 2, 4, 5, 6, 5, 5],
    },
    places: [
      { name: 'Sagrada Família', kind: 'sight', indoor: true, note: "Gaudí's basilica; book the towers ahead." },
      { name: 'Casa Batlló', kind: 'sight', indoor: true, note: 'Gaudí house on Passeig de Gràcia.' },
      { name: 'Picasso Museum', kind: 'museum', indoor: true, note: 'Early works in medieval palaces.' },
      { name: 'Gothic Quarter', kind: 'neighborhood', indoor: false, note: 'Cathedral, squares and narrow lanes.' },
      { name: 'Park Güell', kind: 'park', indoor: false, note: 'Mosaic terraces above the city.' },
      { name: 'Montjuïc', kind: 'park', indoor: false, note: 'Gardens, castle and the Miró Foundation.' },
      { name: 'Barceloneta beach', kind: 'park', indoor: false, note: 'City beach and seafront promenade.' },
      { name: 'La Boqueria', kind: 'food', indoor: true, note: 'Market on La Rambla; go before noon.' },
      { name: 'El Born tapas bars', kind: 'food', indoor: true, note: 'Vermouth and tapas crawl.' },
      { name: 'Montserrat', kind: 'day-trip', indoor: false, note: 'Mountain monastery, 1 h by train and rack railway.' },
    ],
  },
  {
    name: 'Madrid',
    country: 'Spain',
    lat: 40.4168,
    lon: -3.7038,
    timezone: 'Europe/Madrid',
    aliases: [],
    climate: {
      highC: [10, 12, 16, 18, 22, 28, 32, 31, 26, 19, 13, 10],
      lowC: [3, 4, 6, 8, 11, 16, 19, 19, 15, 11, 6, 3],
      rainyDays: [6, 5, 4, 6, 5, 2, 1, 1, 2, 6, 6, 6],
    },
    places: [
      { name: 'Prado Museum', kind: 'museum', indoor: true, note: 'Velázquez, Goya, Bosch; free last two hours.' },
      { name: 'Reina Sofía', kind: 'museum', indoor: true, note: "Home of Picasso's Guernica." },
      { name: 'Royal Palace', kind: 'sight', indoor: true, note: 'Over 3,000 rooms; visit a dozen of them.' },
      { name: 'Retiro Park', kind: 'park', indoor: false, note: 'Boating lake and the Crystal Palace.' },
      { name: 'Plaza Mayor', kind: 'neighborhood', indoor: false, note: 'Heart of the Habsburg old town.' },
      { name: 'Malasaña', kind: 'neighborhood', indoor: false, note: 'Vintage shops and terraces.' },
      { name: 'Mercado de San Miguel', kind: 'food', indoor: true, note: 'Iron-and-glass market for tapas.' },
      { name: 'Chocolatería San Ginés', kind: 'food', indoor: true, note: 'Churros con chocolate since 1894.' },
      { name: 'Toledo', kind: 'day-trip', indoor: false, note: 'Walled city of three cultures, 30 min by train.' },
    ],
  },
  {
    name: 'London',
    country: 'United Kingdom',
    lat: 51.5074,
    lon: -0.1278,
    timezone: 'Europe/London',
    aliases: [],
    climate: {
      highC: [8, 9, 12, 15, 18, 21, 24, 23, 20, 16, 11, 9],
      lowC: [3, 3, 4, 6, 9, 12, 14, 14, 12, 9, 5, 3],
      rainyDays: [11, 9, 9, 9, 8, 8, 7, 8, 8, 10, 10, 10],
    },
    places: [
      { name: 'British Museum', kind: 'museum', indoor: true, note: 'Free; Rosetta Stone and the Parthenon marbles.' },
      { name: 'Natural History Museum', kind: 'museum', indoor: true, note: 'Free; dinosaurs under a Victorian nave.' },
      { name: 'Tate Modern', kind: 'museum', indoor: true, note: 'Free; modern art in a power station.' },
      { name: 'Tower of London', kind: 'sight', indoor: false, note: 'Crown Jewels and the Yeoman Warders.' },
      { name: 'Covent Garden', kind: 'neighborhood', indoor: false, note: 'Street performers and the market hall.' },
      { name: 'Hyde Park', kind: 'park', indoor: false, note: 'Serpentine lake and Kensington Gardens.' },
      { name: 'Borough Market', kind: 'food', indoor: false, note: 'Historic food market by London Bridge.' },
      { name: 'Dishoom', kind: 'food', indoor: true, note: 'Bombay café classics; expect a queue.' },
      { name: 'Windsor', kind: 'day-trip', indoor: false, note: 'Windsor Castle, 1 h by train.' },
    ],
  },
  {
    name: 'Berlin',
    country: 'Germany',
    lat: 52.52,
    lon: 13.405,
    timezone: 'Europe/Berlin',
    aliases: [],
    climate: {
      highC: [3, 5, 9, 15, 19, 22, 25, 24, 19, 14, 8, 4],
      lowC: [-2, -2, 1, 4, 9, 12, 14, 14, 10, 6, 2, -1],
      rainyDays: [10, 8, 8, 7, 8, 8, 8, 8, 7, 8, 9, 10],
    },
    places: [
      { name: 'Museum Island', kind: 'museum', indoor: true, note: 'Pergamon, Neues Museum and Nefertiti.' },
      { name: 'Reichstag dome', kind: 'sight', indoor: true, note: 'Free with advance registration.' },
      { name: 'Brandenburg Gate', kind: 'sight', indoor: false, note: 'Then walk down Unter den Linden.' },
      { name: 'Berlin Wall Memorial', kind: 'sight', indoor: false, note: 'Bernauer Strasse, the best-kept stretch.' },
      { name: 'East Side Gallery', kind: 'sight', indoor: false, note: 'Murals on 1.3 km of the Wall.' },
      { name: 'Tiergarten', kind: 'park', indoor: false, note: 'The big park in the middle of the city.' },
      { name: 'Kreuzberg', kind: 'neighborhood', indoor: false, note: 'Canal-side cafés and street art.' },
      { name: 'Markthalle Neun', kind: 'food', indoor: true, note: 'Market hall; Street Food Thursday.' },
      { name: 'Potsdam', kind: 'day-trip', indoor: false, note: 'Sanssouci palaces and parks, 40 min by S-Bahn.' },
    ],
  },
  {
    name: 'Amsterdam',
    country: 'Netherlands',
    lat: 52.3676,
    lon: 4.9041,
    timezone: 'Europe/Amsterdam',
    aliases: [],
    climate: {
      highC: [6, 7, 10, 14, 18, 20, 22, 22, 19, 15, 10, 7],
      lowC: [1, 1, 3, 5, 8, 11, 13, 13, 11, 8, 4, 2],
      rainyDays: [12, 10, 11, 9, 9, 9, 9, 10, 11, 12, 13, 13],
    },
    places: [
      { name: 'Rijksmuseum', kind: 'museum', indoor: true, note: "Rembrandt's Night Watch and Dutch masters." },
      { name: 'Van Gogh Museum', kind: 'museum', indoor: true, note: 'Timed tickets sell out; book ahead.' },
      { name: 'Anne Frank House', kind: 'museum', indoor: true, note: 'Tickets released online six weeks ahead.' },
      { name: 'Jordaan', kind: 'neighborhood', indoor: false, note: 'Canals, hofjes and brown cafés.' },
      { name: 'Canal cruise', kind: 'sight', indoor: false, note: 'An hour on the ring canals.' },
      { name: 'Vondelpark', kind: 'park', indoor: false, note: 'Rent a bike and ride through.' },
      { name: 'Foodhallen', kind: 'food', indoor: true, note: 'Food hall in an old tram depot.' },
      { name: 'Café Papeneiland', kind: 'food', indoor: true, note: 'Brown café with famous apple pie.' },
      { name: 'Zaanse Schans', kind: 'day-trip', indoor: false, note: 'Windmills and wooden houses, 20 min by train.' },
    ],
  },
  {
    name: 'Prague',
    country: 'Czechia',
    lat: 50.0755,
    lon: 14.4378,
    timezone: 'Europe/Prague',
    aliases: ['Praha'],
    climate: {
      highC: [2, 4, 9, 14, 19, 22, 25, 24, 19, 13, 7, 3],
      lowC: [-3, -3, 0, 3, 8, 11, 13, 13, 9, 5, 1, -2],
      rainyDays: [7, 6, 7, 7, 9, 9, 9, 8, 6, 6, 7, 7],
    },
    places: [
      { name: 'Prague Castle', kind: 'sight', indoor: true, note: 'St Vitus Cathedral and Golden Lane.' },
      { name: 'Charles Bridge', kind: 'sight', indoor: false, note: 'Cross at sunrise before the crowds.' },
      { name: 'Old Town Square', kind: 'sight', indoor: false, note: 'The Astronomical Clock strikes on the hour.' },
      { name: 'Jewish Quarter', kind: 'museum', indoor: true, note: 'Synagogues and the Old Jewish Cemetery.' },
      { name: 'National Gallery (Veletržní Palace)', kind: 'museum', indoor: true, note: 'Modern art, Mucha to Picasso.' },
      { name: 'Petřín Hill', kind: 'park', indoor: false, note: 'Funicular, orchards and a mini Eiffel tower.' },
      { name: 'Lokál', kind: 'food', indoor: true, note: 'Tank Pilsner and Czech classics.' },
      { name: 'Letná beer garden', kind: 'food', indoor: false, note: 'Views over the bridges.' },
      { name: 'Kutná Hora', kind: 'day-trip', indoor: false, note: 'Bone chapel and St Barbara, 1 h by train.' },
    ],
  },
  {
    name: 'Vienna',
    country: 'Austria',
    lat: 48.2082,
    lon: 16.3738,
    timezone: 'Europe/Vienna',
    aliases: ['Wien'],
    climate: {
      highC: [3, 5, 10, 16, 21, 24, 26, 26, 21, 15, 8, 4],
      lowC: [-2, -1, 2, 6, 11, 14, 16, 16, 12, 7, 3, -1],
      rainyDays: [7, 6, 8, 7, 8, 9, 9, 8, 7, 6, 7, 7],
    },
    places: [
      { name: 'Schönbrunn Palace', kind: 'sight', indoor: true, note: 'Imperial rooms; the gardens are free.' },
      { name: "St Stephen's Cathedral", kind: 'sight', indoor: true, note: 'Climb the south tower.' },
      { name: 'Kunsthistorisches Museum', kind: 'museum', indoor: true, note: 'Bruegel room and a grand café.' },
      { name: 'Belvedere', kind: 'museum', indoor: true, note: "Klimt's The Kiss." },
      { name: 'MuseumsQuartier', kind: 'neighborhood', indoor: false, note: 'Courtyards, museums and lounging furniture.' },
      { name: 'Prater', kind: 'park', indoor: false, note: 'The Giant Ferris Wheel and chestnut alleys.' },
      { name: 'Naschmarkt', kind: 'food', indoor: false, note: 'Open-air market and eateries.' },
      { name: 'Café Central', kind: 'food', indoor: true, note: 'Coffee-house institution; try the strudel.' },
      { name: 'Wachau Valley', kind: 'day-trip', indoor: false, note: 'Danube vineyards and Melk Abbey.' },
    ],
  },
  {
    name: 'Tokyo',
    country: 'Japan',
    lat: 35.6762,
    lon: 139.6503,
    timezone: 'Asia/Tokyo',
    aliases: [],
    climate: {
      highC: [10, 10, 14, 19, 23, 26, 30, 31, 27, 22, 17, 12],
      lowC: [1, 2, 5, 10, 15, 19, 23, 24, 21, 15, 9, 4],
      rainyDays: [5, 6, 10, 10, 11, 12, 11, 8, 11, 10, 7, 5],
    },
    places: [
      { name: 'Senso-ji', kind: 'sight', indoor: false, note: "Tokyo's oldest temple, in Asakusa." },
      { name: 'Meiji Jingu', kind: 'sight', indoor: false, note: 'Forest shrine next to Harajuku.' },
      { name: 'Shibuya', kind: 'neighborhood', indoor: false, note: 'The scramble crossing and Shibuya Sky.' },
      { name: 'Shinjuku Gyoen', kind: 'park', indoor: false, note: 'Three garden styles in one park.' },
      { name: 'Tokyo National Museum', kind: 'museum', indoor: true, note: 'Japanese art in Ueno Park.' },
      { name: 'teamLab Planets', kind: 'museum', indoor: true, note: 'Immersive digital art; book a slot.' },
      { name: 'Akihabara', kind: 'neighborhood', indoor: true, note: 'Arcades and electronics towers.' },
      { name: 'Tsukiji Outer Market', kind: 'food', indoor: false, note: 'Sushi, skewers and tamagoyaki; most stalls close by 2 pm.' },
      { name: 'Omoide Yokocho', kind: 'food', indoor: true, note: 'Tiny yakitori bars by Shinjuku station.' },
      { name: 'Nikko', kind: 'day-trip', indoor: false, note: 'Toshogu shrine and waterfalls, 2 h by train.' },
    ],
  },
  {
    name: 'Kyoto',
    country: 'Japan',
    lat: 35.0116,
    lon: 135.7681,
    timezone: 'Asia/Tokyo',
    aliases: [],
    climate: {
      highC: [9, 10, 14, 20, 25, 28, 32, 33, 29, 23, 17, 12],
      lowC: [1, 1, 4, 9, 14, 19, 23, 24, 20, 13, 7, 3],
      rainyDays: [7, 8, 10, 10, 10, 13, 12, 8, 11, 8, 7, 6],
    },
    places: [
      { name: 'Fushimi Inari Taisha', kind: 'sight', indoor: false, note: 'Thousands of vermilion gates up the hill.' },
      { name: 'Kinkaku-ji', kind: 'sight', indoor: false, note: 'The Golden Pavilion over its pond.' },
      { name: 'Kiyomizu-dera', kind: 'sight', indoor: false, note: 'Wooden stage above the maples.' },
      { name: 'Arashiyama Bamboo Grove', kind: 'park', indoor: false, note: 'Go at 7 am for an empty path.' },
      { name: 'Gion', kind: 'neighborhood', indoor: false, note: 'Teahouses and lantern-lit lanes at dusk.' },
      { name: 'Nijō Castle', kind: 'sight', indoor: true, note: 'Nightingale floors of the shoguns.' },
      { name: 'Kyoto National Museum', kind: 'museum', indoor: true, note: 'Buddhist sculpture and screens.' },
      { name: 'Nishiki Market', kind: 'food', indoor: true, note: "Covered arcade, 'Kyoto's kitchen'." },
      { name: 'Pontocho', kind: 'food', indoor: true, note: 'Riverside alley of small restaurants.' },
      { name: 'Nara', kind: 'day-trip', indoor: false, note: 'Deer park and the Great Buddha, 45 min by train.' },
    ],
  },
  {
    name: 'New York',
    country: 'United States',
    lat: 40.7128,
    lon: -74.006,
    timezone: 'America/New_York',
    aliases: ['New York City', 'NYC', 'Manhattan'],
    climate: {
      highC: [4, 5, 10, 17, 22, 27, 29, 29, 25, 18, 12, 6],
      lowC: [-3, -2, 2, 7, 12, 18, 21, 20, 16, 10, 5, 0],
      rainyDays: [10, 9, 10, 11, 11, 10, 10, 9, 8, 9, 9, 10],
    },
    places: [
      { name: 'The Metropolitan Museum of Art', kind: 'museum', indoor: true, note: 'Temple of Dendur and the rooftop.' },
      { name: 'MoMA', kind: 'museum', indoor: true, note: 'Starry Night and modern design.' },
      { name: 'American Museum of Natural History', kind: 'museum', indoor: true, note: 'Blue whale and dinosaurs.' },
      { name: 'Central Park', kind: 'park', indoor: false, note: 'Bethesda Terrace to the Reservoir.' },
      { name: 'High Line', kind: 'park', indoor: false, note: 'Elevated rail-line park on the West Side.' },
      { name: 'Brooklyn Bridge and DUMBO', kind: 'sight', indoor: false, note: 'Walk over from Manhattan.' },
      { name: 'Statue of Liberty', kind: 'sight', indoor: false, note: 'Ferry from Battery Park with Ellis Island.' },
      { name: 'Greenwich Village', kind: 'neighborhood', indoor: false, note: 'Washington Square and jazz clubs.' },
      { name: 'Chelsea Market', kind: 'food', indoor: true, note: 'Food hall in the old Nabisco factory.' },
      { name: "Katz's Delicatessen", kind: 'food', indoor: true, note: 'Pastrami on rye since 1888.' },
    ],
  },
  {
    name: 'San Francisco',
    country: 'United States',
    lat: 37.7749,
    lon: -122.4194,
    timezone: 'America/Los_Angeles',
    aliases: ['SF'],
    climate: {
      highC: [14, 16, 17, 18, 19, 21, 21, 22, 23, 21, 17, 14],
      lowC: [8, 9, 9, 10, 11, 12, 13, 14, 14, 12, 10, 8],
      rainyDays: [10, 10, 9, 5, 3, 1, 0, 0, 1, 3, 7, 10],
    },
    places: [
      { name: 'Golden Gate Bridge', kind: 'sight', indoor: false, note: 'Walk or bike across to Sausalito.' },
      { name: 'Alcatraz', kind: 'sight', indoor: true, note: 'Cellhouse audio tour; book days ahead.' },
      { name: 'SFMOMA', kind: 'museum', indoor: true, note: 'Seven floors of modern art.' },
      { name: 'Exploratorium', kind: 'museum', indoor: true, note: 'Hands-on science on Pier 15.' },
      { name: 'Golden Gate Park', kind: 'park', indoor: false, note: 'Japanese Tea Garden and bison.' },
      { name: 'Mission District', kind: 'neighborhood', indoor: false, note: 'Murals on Balmy Alley, Dolores Park.' },
      { name: 'Chinatown', kind: 'neighborhood', indoor: false, note: 'The oldest Chinatown in North America.' },
      { name: 'Ferry Building Marketplace', kind: 'food', indoor: true, note: 'Oysters, bread and coffee by the bay.' },
      { name: 'Muir Woods', kind: 'day-trip', indoor: false, note: 'Old-growth redwoods; reserve parking.' },
    ],
  },
  {
    name: 'Mexico City',
    country: 'Mexico',
    lat: 19.4326,
    lon: -99.1332,
    timezone: 'America/Mexico_City',
    aliases: ['CDMX', 'Ciudad de México'],
    climate: {
      highC: [22, 24, 26, 27, 27, 25, 23, 23, 23, 22, 22, 22],
      lowC: [6, 7, 9, 11, 12, 13, 12, 12, 12, 10, 8, 7],
      rainyDays: [2, 2, 3, 6, 10, 16, 20, 19, 16, 8, 3, 2],
    },
    places: [
      { name: 'National Museum of Anthropology', kind: 'museum', indoor: true, note: 'The Aztec Sun Stone.' },
      { name: 'Frida Kahlo Museum', kind: 'museum', indoor: true, note: 'The Blue House; tickets online only.' },
      { name: 'Centro Histórico', kind: 'neighborhood', indoor: false, note: 'Zócalo, cathedral and Templo Mayor.' },
      { name: 'Palacio de Bellas Artes', kind: 'sight', indoor: true, note: 'Art Nouveau palace with Rivera murals.' },
      { name: 'Chapultepec Park', kind: 'park', indoor: false, note: 'Castle on the hill, lakes below.' },
      { name: 'Coyoacán', kind: 'neighborhood', indoor: false, note: 'Colonial plazas and the market.' },
      { name: 'Xochimilco', kind: 'sight', indoor: false, note: 'Trajinera boats on the canals.' },
      { name: 'Mercado de San Juan', kind: 'food', indoor: true, note: "Chefs' market with tasting stalls." },
      { name: 'Roma and Condesa taquerias', kind: 'food', indoor: false, note: 'Tacos al pastor after dark.' },
      { name: 'Teotihuacan', kind: 'day-trip', indoor: false, note: 'Pyramids of the Sun and Moon, 1 h by bus.' },
    ],
  },
  {
    name: 'Buenos Aires',
    country: 'Argentina',
    lat: -34.6037,
    lon: -58.3816,
    timezone: 'America/Argentina/Buenos_Aires',
    aliases: [],
    climate: {
      highC: [30, 28, 26, 23, 19, 16, 15, 17, 19, 22, 25, 28],
      lowC: [20, 19, 18, 14, 11, 8, 7, 9, 10, 13, 16, 18],
      rainyDays: [8, 7, 8, 8, 6, 6, 6, 6, 7, 9, 9, 9],
    },
    places: [
      { name: 'Recoleta Cemetery', kind: 'sight', indoor: false, note: "Marble mausoleums, Evita's tomb." },
      { name: 'Teatro Colón', kind: 'sight', indoor: true, note: 'Guided tour of a legendary opera house.' },
      { name: 'El Ateneo Grand Splendid', kind: 'sight', indoor: true, note: 'A bookshop in a 1919 theatre.' },
      { name: 'MALBA', kind: 'museum', indoor: true, note: 'Latin American art, Kahlo to Berni.' },
      { name: 'La Boca', kind: 'neighborhood', indoor: false, note: 'Caminito colours; visit by day.' },
      { name: 'San Telmo', kind: 'neighborhood', indoor: false, note: 'Sunday antiques fair and tango.' },
      { name: 'Bosques de Palermo', kind: 'park', indoor: false, note: 'Rose garden and lakes.' },
      { name: 'San Telmo Market', kind: 'food', indoor: true, note: 'Iron market hall with empanadas.' },
      { name: 'Don Julio', kind: 'food', indoor: true, note: 'Celebrated parrilla; reserve.' },
      { name: 'Tigre Delta', kind: 'day-trip', indoor: false, note: 'River islands by boat, 1 h by train.' },
    ],
  },
  {
    name: 'Cape Town',
    country: 'South Africa',
    lat: -33.9249,
    lon: 18.4241,
    timezone: 'Africa/Johannesburg',
    aliases: [],
    climate: {
      highC: [27, 27, 26, 24, 21, 19, 18, 18, 19, 22, 24, 26],
      lowC: [16, 16, 14, 12, 9, 8, 7, 8, 9, 11, 13, 15],
      rainyDays: [3, 3, 4, 7, 10, 12, 12, 12, 8, 6, 4, 3],
    },
    places: [
      { name: 'Table Mountain', kind: 'sight', indoor: false, note: 'Cable car up; check the wind first.' },
      { name: 'Robben Island', kind: 'sight', indoor: false, note: "Ferry tour of Mandela's prison." },
      { name: 'Zeitz MOCAA', kind: 'museum', indoor: true, note: 'Contemporary African art in a grain silo.' },
      { name: 'Iziko South African Museum', kind: 'museum', indoor: true, note: 'Natural history and rock art.' },
      { name: 'Kirstenbosch', kind: 'park', indoor: false, note: 'Botanical garden and treetop walkway.' },
      { name: 'Bo-Kaap', kind: 'neighborhood', indoor: false, note: 'Bright houses and Cape Malay food.' },
      { name: 'V&A Waterfront', kind: 'neighborhood', indoor: false, note: 'Harbour, seals and shops.' },
      { name: 'Old Biscuit Mill', kind: 'food', indoor: true, note: 'Saturday Neighbourgoods Market.' },
      { name: 'Cape Point', kind: 'day-trip', indoor: false, note: 'Penguins at Boulders Beach on the way.' },
      { name: 'Stellenbosch', kind: 'day-trip', indoor: false, note: 'Winelands, 45 min by car.' },
    ],
  },
  {
    name: 'Marrakech',
    country: 'Morocco',
    lat: 31.6295,
    lon: -7.9811,
    timezone: 'Africa/Casablanca',
    aliases: ['Marrakesh'],
    climate: {
      highC: [19, 21, 23, 26, 29, 33, 37, 37, 32, 28, 23, 20],
      lowC: [6, 8, 10, 12, 15, 18, 21, 21, 19, 15, 10, 7],
      rainyDays: [5, 5, 5, 5, 3, 1, 0, 1, 2, 4, 5, 4],
    },
    places: [
      { name: 'Jemaa el-Fnaa', kind: 'sight', indoor: false, note: 'The main square, best at dusk.' },
      { name: 'Medina souks', kind: 'neighborhood', indoor: false, note: 'Shaded alleys of crafts; haggle kindly.' },
      { name: 'Bahia Palace', kind: 'sight', indoor: true, note: 'Painted cedar ceilings and courtyards.' },
      { name: 'Ben Youssef Madrasa', kind: 'sight', indoor: true, note: 'Carved stucco around a courtyard pool.' },
      { name: 'Yves Saint Laurent Museum', kind: 'museum', indoor: true, note: 'Couture and design, next to Majorelle.' },
      { name: 'Jardin Majorelle', kind: 'park', indoor: false, note: 'Cobalt-blue villa and cactus garden.' },
      { name: 'Hammam de la Rose', kind: 'sight', indoor: true, note: 'A traditional steam bath and scrub.' },
      { name: 'Jemaa el-Fnaa food stalls', kind: 'food', indoor: false, note: 'Tagines and snail soup at night.' },
      { name: 'Café des Épices', kind: 'food', indoor: true, note: 'Mint tea over the spice square.' },
      { name: 'Atlas Mountains', kind: 'day-trip', indoor: false, note: 'Imlil valley and Berber villages.' },
    ],
  },
  {
    name: 'Istanbul',
    country: 'Türkiye',
    lat: 41.0082,
    lon: 28.9784,
    timezone: 'Europe/Istanbul',
    aliases: [],
    climate: {
      highC: [9, 9, 12, 16, 21, 26, 28, 29, 25, 20, 15, 11],
      lowC: [4, 4, 5, 8, 13, 17, 20, 21, 17, 13, 9, 6],
      rainyDays: [12, 11, 10, 7, 5, 4, 2, 3, 5, 8, 10, 12],
    },
    places: [
      { name: 'Hagia Sophia', kind: 'sight', indoor: true, note: 'Fifteen centuries under one dome.' },
      { name: 'Blue Mosque', kind: 'sight', indoor: true, note: 'Closed to visitors at prayer times.' },
      { name: 'Topkapı Palace', kind: 'museum', indoor: true, note: 'Harem and treasury of the sultans.' },
      { name: 'Basilica Cistern', kind: 'sight', indoor: true, note: 'Byzantine columns over still water.' },
      { name: 'Grand Bazaar', kind: 'neighborhood', indoor: true, note: '4,000 shops under vaulted roofs.' },
      { name: 'Bosphorus ferry', kind: 'sight', indoor: false, note: 'Public ferry between two continents.' },
      { name: 'Galata and Karaköy', kind: 'neighborhood', indoor: false, note: 'Galata Tower and café streets.' },
      { name: 'Spice Bazaar', kind: 'food', indoor: true, note: 'Lokum, spices and teas.' },
      { name: 'Kadıköy market', kind: 'food', indoor: false, note: 'Meze and fish on the Asian side.' },
      { name: "Princes' Islands", kind: 'day-trip', indoor: false, note: 'Car-free islands, 90 min by ferry.' },
    ],
  },
  {
    name: 'Athens',
    country: 'Greece',
    lat: 37.9838,
    lon: 23.7275,
    timezone: 'Europe/Athens',
    aliases: ['Athina'],
    climate: {
      highC: [13, 14, 16, 20, 26, 31, 34, 33, 29, 24, 19, 15],
      lowC: [7, 7, 9, 12, 16, 21, 23, 23, 20, 16, 12, 9],
      rainyDays: [7, 6, 5, 4, 3, 1, 1, 1, 2, 4, 6, 7],
    },
    places: [
      { name: 'Acropolis', kind: 'sight', indoor: false, note: 'Parthenon; go at opening time.' },
      { name: 'Ancient Agora', kind: 'sight', indoor: false, note: 'Temple of Hephaestus, the best preserved.' },
      { name: 'Acropolis Museum', kind: 'museum', indoor: true, note: 'Glass floors over excavations.' },
      { name: 'National Archaeological Museum', kind: 'museum', indoor: true, note: 'Mask of Agamemnon.' },
      { name: 'Plaka and Anafiotika', kind: 'neighborhood', indoor: false, note: 'Island-style lanes under the rock.' },
      { name: 'Lycabettus Hill', kind: 'park', indoor: false, note: 'Sunset over the whole city.' },
      { name: 'Varvakios Central Market', kind: 'food', indoor: true, note: 'Meat and fish halls, tavernas around.' },
      { name: 'Monastiraki souvlaki', kind: 'food', indoor: false, note: 'Souvlaki row by the flea market.' },
      { name: 'Cape Sounion', kind: 'day-trip', indoor: false, note: 'Temple of Poseidon at sunset.' },
    ],
  },
  {
    name: 'Bangkok',
    country: 'Thailand',
    lat: 13.7563,
    lon: 100.5018,
    timezone: 'Asia/Bangkok',
    aliases: [],
    climate: {
      highC: [32, 33, 34, 35, 34, 33, 33, 33, 32, 32, 32, 31],
      lowC: [22, 24, 26, 27, 27, 26, 26, 26, 25, 25, 24, 22],
      rainyDays: [1, 2, 3, 5, 15, 16, 17, 19, 21, 16, 5, 1],
    },
    places: [
      { name: 'Grand Palace', kind: 'sight', indoor: false, note: 'Wat Phra Kaew; shoulders and knees covered.' },
      { name: 'Wat Pho', kind: 'sight', indoor: false, note: 'The Reclining Buddha and massage school.' },
      { name: 'Wat Arun', kind: 'sight', indoor: false, note: 'Cross by river ferry; best near sunset.' },
      { name: 'Jim Thompson House', kind: 'museum', indoor: true, note: 'Teak houses and a silk story.' },
      { name: 'Bangkok Art and Culture Centre', kind: 'museum', indoor: true, note: 'Free contemporary art.' },
      { name: 'ICONSIAM', kind: 'sight', indoor: true, note: 'Riverside mall with an indoor floating market.' },
      { name: 'Lumphini Park', kind: 'park', indoor: false, note: 'Monitor lizards and morning tai chi.' },
      { name: 'Chatuchak Weekend Market', kind: 'neighborhood', indoor: false, note: '15,000 stalls; weekends.' },
      { name: 'Yaowarat', kind: 'food', indoor: false, note: 'Chinatown street food after dark.' },
      { name: 'Or Tor Kor Market', kind: 'food', indoor: true, note: 'Spotless market for fruit and curries.' },
      { name: 'Ayutthaya', kind: 'day-trip', indoor: false, note: 'Temple ruins of the old capital.' },
    ],
  },
  {
    name: 'Singapore',
    country: 'Singapore',
    lat: 1.3521,
    lon: 103.8198,
    timezone: 'Asia/Singapore',
    aliases: [],
    climate: {
      highC: [30, 31, 32, 32, 32, 31, 31, 31, 31, 31, 31, 30],
      lowC: [23, 24, 24, 25, 25, 25, 25, 25, 25, 24, 24, 24],
      rainyDays: [15, 11, 14, 15, 14, 13, 13, 14, 14, 16, 19, 19],
    },
    places: [
      { name: 'Cloud Forest and Flower Dome', kind: 'sight', indoor: true, note: 'Cool conservatories at Gardens by the Bay.' },
      { name: 'Supertree Grove', kind: 'park', indoor: false, note: 'Light show at 7:45 and 8:45 pm.' },
      { name: 'National Gallery Singapore', kind: 'museum', indoor: true, note: 'Southeast Asian art in two landmarks.' },
      { name: 'ArtScience Museum', kind: 'museum', indoor: true, note: 'Lotus-shaped museum by Marina Bay.' },
      { name: 'Singapore Botanic Gardens', kind: 'park', indoor: false, note: 'UNESCO site with an orchid garden.' },
      { name: 'Chinatown', kind: 'neighborhood', indoor: false, note: 'Temples and shophouses.' },
      { name: 'Little India', kind: 'neighborhood', indoor: false, note: 'Tekka Centre and colourful streets.' },
      { name: 'Maxwell Food Centre', kind: 'food', indoor: true, note: 'Hawker stalls; try chicken rice.' },
      { name: 'Lau Pa Sat', kind: 'food', indoor: true, note: 'Victorian hawker hall; satay street at night.' },
      { name: 'Sentosa', kind: 'day-trip', indoor: false, note: 'Beaches and the island by cable car.' },
    ],
  },
  {
    name: 'Sydney',
    country: 'Australia',
    lat: -33.8688,
    lon: 151.2093,
    timezone: 'Australia/Sydney',
    aliases: [],
    climate: {
      highC: [26, 26, 25, 23, 20, 18, 17, 18, 20, 22, 24, 25],
      lowC: [19, 19, 18, 15, 12, 9, 8, 9, 11, 14, 16, 18],
      rainyDays: [12, 12, 13, 11, 11, 12, 10, 9, 9, 10, 11, 10],
    },
    places: [
      { name: 'Sydney Opera House', kind: 'sight', indoor: true, note: 'Backstage tour or an evening show.' },
      { name: 'Sydney Harbour Bridge', kind: 'sight', indoor: false, note: 'Walk across or climb the arch.' },
      { name: 'Art Gallery of New South Wales', kind: 'museum', indoor: true, note: 'Free; Aboriginal art.' },
      { name: 'Australian Museum', kind: 'museum', indoor: true, note: 'Natural history since 1827.' },
      { name: 'The Rocks', kind: 'neighborhood', indoor: false, note: 'Sandstone lanes and weekend market.' },
      { name: 'Royal Botanic Garden', kind: 'park', indoor: false, note: "Mrs Macquarie's Chair viewpoint." },
      { name: 'Bondi to Coogee walk', kind: 'park', indoor: false, note: '6 km of cliffs and beaches.' },
      { name: 'Manly ferry', kind: 'sight', indoor: false, note: 'The best-value harbour cruise.' },
      { name: 'Sydney Fish Market', kind: 'food', indoor: true, note: 'Oysters and sashimi by the water.' },
      { name: 'Blue Mountains', kind: 'day-trip', indoor: false, note: 'Three Sisters, 2 h by train.' },
    ],
  },
  {
    name: 'Reykjavik',
    country: 'Iceland',
    lat: 64.1466,
    lon: -21.9426,
    timezone: 'Atlantic/Reykjavik',
    aliases: ['Reykjavík'],
    climate: {
      highC: [3, 3, 3, 6, 10, 12, 14, 14, 11, 7, 4, 3],
      lowC: [-2, -2, -2, 0, 4, 7, 9, 8, 5, 2, -1, -2],
      rainyDays: [13, 13, 14, 12, 10, 10, 11, 12, 14, 15, 14, 15],
    },
    places: [
      { name: 'Hallgrímskirkja', kind: 'sight', indoor: true, note: 'Basalt-column church; lift to the tower.' },
      { name: 'Harpa', kind: 'sight', indoor: true, note: 'Glass concert hall on the harbour.' },
      { name: 'National Museum of Iceland', kind: 'museum', indoor: true, note: 'From the Settlement to today.' },
      { name: 'Perlan', kind: 'museum', indoor: true, note: 'Ice cave, glaciers and a view deck.' },
      { name: 'Sky Lagoon', kind: 'sight', indoor: false, note: 'Ocean-edge geothermal lagoon.' },
      { name: 'Laugavegur', kind: 'neighborhood', indoor: false, note: 'Main street of shops and bars.' },
      { name: 'Old Harbour and Grandi', kind: 'neighborhood', indoor: false, note: 'Whale-watching boats and cafés.' },
      { name: 'Grandi Mathöll', kind: 'food', indoor: true, note: 'Food hall in a fish-factory shed.' },
      { name: 'Bæjarins Beztu Pylsur', kind: 'food', indoor: false, note: 'The famous hot-dog stand.' },
      { name: 'Golden Circle', kind: 'day-trip', indoor: false, note: 'Þingvellir, Geysir and Gullfoss.' },
    ],
  },
];

/** Lowercase, accents stripped, spaces squeezed: how names are compared. */
export function normalizeName(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

/** The city with this name or alias (case and accents ignored), or undefined. */
export function findCity(name: string): City | undefined {
  // "Lisbon, Portugal" should still find Lisbon.
  const wanted = normalizeName(name.split(',')[0] ?? '');
  return CITIES.find((city) =>
    [city.name, ...city.aliases].some((candidate) => normalizeName(candidate) === wanted),
  );
}

/** The atlas city closest to a point, with its great-circle distance in km. */
export function nearestCity({ lat, lon }: { lat: number; lon: number }): { city: City; distanceKm: number } {
  let best: { city: City; distanceKm: number } | undefined;
  for (const city of CITIES) {
    const distanceKm = haversineKm({ from: { lat, lon }, to: city });
    if (!best || distanceKm < best.distanceKm) best = { city, distanceKm };
  }
  // The atlas is never empty; the fallback only satisfies the type checker.
  return best ?? { city: CITIES[0] as City, distanceKm: Infinity };
}

/** Month number 1-12 from "May", "sep", "Sept.", "10" or 10; undefined when not a month. */
export function parseMonth(value: string | number): number | undefined {
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= 1 && value <= 12 ? value : undefined;
  const text = normalizeName(value).replace(/\.$/, '');
  if (/^\d{1,2}$/.test(text)) return parseMonth(Number(text));
  // Three letters at least: "ma" could be March or May.
  if (text.length < 3) return undefined;
  const index = MONTH_NAMES.findIndex((month) => {
    const name = month.toLowerCase();
    return name.startsWith(text);
  });
  return index === -1 ? undefined : index + 1;
}

/** The English name of month 1-12. */
export function monthName(month: number): string {
  return MONTH_NAMES[month - 1] ?? 'Unknown month';
}

function haversineKm({
  from,
  to,
}: {
  from: { lat: number; lon: number };
  to: { lat: number; lon: number };
}): number {
  const radians = (degrees: number) => (degrees * Math.PI) / 180;
  const deltaLat = radians(to.lat - from.lat);
  const deltaLon = radians(to.lon - from.lon);
  const a =
    Math.sin(deltaLat / 2) ** 2 +
    Math.cos(radians(from.lat)) * Math.cos(radians(to.lat)) * Math.sin(deltaLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(a));
}

// For test/dependency-direction.test.ts: a file of a folder the layers do not place.
import { createId } from '../util/ids.js';

export const unplaced = createId('run');

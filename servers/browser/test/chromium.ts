import { describe } from 'vitest';
import { skipWithout } from '../../../tests/helpers.js';
import { findChromium } from '../src/chromium.js';

/** The Chromium this machine has, if any. */
export const CHROMIUM = findChromium();

/** `describe` for tests that drive Chromium: where it is missing they skip saying so, and in CI they fail (skipWithout). */
export const describeChromium = describe.skipIf(
  skipWithout('Chromium', CHROMIUM !== undefined, 'apt-get install chromium, or set FATHOM_CHROMIUM_PATH to its executable'),
);

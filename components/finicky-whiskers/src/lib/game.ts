// Facts of the game shared by several components (contract sections 1.3 and 1.4).

/** The four foods Slats may ask for, in the scorecard's field order. */
export const FOODS = ['beef', 'fish', 'chicken', 'veg'] as const;
export type Food = (typeof FOODS)[number];

export function isFood(value: string): value is Food {
  return (FOODS as readonly string[]).includes(value);
}

/** A game lasts 30 seconds; clicks for an older session are refused. */
export const GAME_DURATION_MS = 30_000;

/** The Redis channel `tally` publishes clicks on and `morsel` consumes. */
export const TALLY_CHANNEL = 'fw-tally';

/** Every Redis key of the game starts with this (so `reset` can find them all). */
export const KEY_PREFIX = 'fw:';

/** The Redis hash holding one session's scorecard: fields beef, fish, chicken, veg, total. */
export function scoreKey(ulid: string): string {
  return `${KEY_PREFIX}score:${ulid}`;
}

/** The high-score table: a JSON array of { score, username, ulid }, best first, at most 10. */
export const HIGHSCORE_KEY = `${KEY_PREFIX}highscores`;
export const HIGHSCORE_TABLE_SIZE = 10;

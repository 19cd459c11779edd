/**
 * Keyset page request over an entity's time-sortable id (see ids.ts). Shaped like
 * Pothos' ResolveCursorConnectionArgs so GraphQL connections pass it straight through,
 * while the domain stays free of GraphQL.
 */
export interface PageArgs {
  /** Return ids strictly greater than this. */
  after?: string | undefined;
  /** Return ids strictly smaller than this. */
  before?: string | undefined;
  /** How many rows to fetch (callers may ask one extra to learn hasNextPage). */
  limit: number;
  /** Order by id descending instead of ascending (used for `last`). */
  inverted: boolean;
}

export const maxPageSize = 100;

/** First page of everything, for callers without paging (REST lists). */
export const allRows: PageArgs = { limit: 10_000, inverted: false };

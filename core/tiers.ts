export const TIERS = ['daily', 'weekly', 'monthly', 'manual'] as const;
export type Tier = (typeof TIERS)[number];

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}

export function parseTier(value: string): Tier {
  if (!isTier(value)) throw new RangeError(`unknown tier "${value}"; choose from ${TIERS.join(', ')}`);
  return value;
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planRetention, type RetentionCandidate, type RetentionOptions, type RetentionRules } from '../core/retention';
import { setNameOf } from '../core/set-names';
import { TIERS, type Tier } from '../core/tiers';

/** The defaults of the specification: 7, 30 and 365 days. */
const RULES: RetentionRules = { days: { daily: 7, weekly: 30, monthly: 365 } };
const NOW = '2026-04-01T03:00:00Z';

/** `[tier or null (unknown), set time, kind]`; `unverified` is a complete set the backup did not verify. */
type Spec = readonly [Tier | null, string, 'complete' | 'unverified' | 'partial' | 'unreadable'];

const nameAt = (iso: string) => setNameOf(new Date(iso));

function candidate([tier, iso, kind]: Spec): RetentionCandidate {
  return {
    name: nameAt(iso),
    ...(tier === null ? {} : { tier }),
    status: kind === 'unverified' ? 'complete' : kind,
    verified: kind === 'complete',
  };
}

/** Every day at 02:00 from `from` to `to` inclusive, `step` days apart. */
function days(tier: Tier, from: string, to: string, step = 1): Spec[] {
  const specs: Spec[] = [];
  for (let t = Date.parse(from); t <= Date.parse(to); t += step * 86_400_000) specs.push([tier, new Date(t).toISOString(), 'complete']);
  return specs;
}

interface Case {
  name: string;
  sets: readonly Spec[];
  now?: string;
  rules?: RetentionRules;
  options?: RetentionOptions;
  /** Times of the sets expected to be deleted; every other set must be kept. */
  deleted: readonly string[];
  /** Expected reason per set time, for the decisions worth pinning. */
  reasons?: Record<string, RegExp>;
}

const MIXED: Spec[] = [
  ['daily', '2026-03-10T02:00:00Z', 'complete'],
  ['daily', '2026-03-31T02:00:00Z', 'complete'],
  ['weekly', '2026-02-01T02:00:00Z', 'complete'],
  ['weekly', '2026-03-29T02:00:00Z', 'complete'],
  ['monthly', '2025-03-01T02:00:00Z', 'complete'],
  ['monthly', '2026-03-01T02:00:00Z', 'complete'],
];

const cases: Case[] = [
  {
    name: 'nothing to decide',
    sets: [],
    deleted: [],
  },
  {
    name: 'sets younger than their retention are kept',
    sets: [
      ['daily', '2026-03-26T02:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'complete'],
      ['weekly', '2026-03-05T02:00:00Z', 'complete'],
      ['weekly', '2026-03-29T02:00:00Z', 'complete'],
    ],
    deleted: [],
    reasons: {
      '2026-03-26T02:00:00Z': /^within the 7-day daily retention$/,
      '2026-03-05T02:00:00Z': /^within the 30-day weekly retention$/,
    },
  },
  {
    name: 'old daily sets are deleted when a newer complete daily set within the retention exists',
    sets: [
      ['daily', '2026-03-20T02:00:00Z', 'complete'],
      ['daily', '2026-03-24T02:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'complete'],
    ],
    deleted: ['2026-03-20T02:00:00Z', '2026-03-24T02:00:00Z'],
    reasons: {
      '2026-03-20T02:00:00Z': /^older than the 7-day daily retention, and a newer complete, verified daily set within it exists \(scholaria_backup_20260331_020000\)$/,
      '2026-03-31T02:00:00Z': /^newest complete daily set$/,
    },
  },
  {
    name: 'a normal month of daily backups: only the sets of the last 7 days stay',
    sets: days('daily', '2026-03-01T02:00:00Z', '2026-04-01T02:00:00Z'),
    deleted: days('daily', '2026-03-01T02:00:00Z', '2026-03-25T02:00:00Z').map(([, iso]) => iso),
  },
  {
    name: 'exact boundary: a set exactly 7 days old is kept, one second older is deleted',
    sets: [
      ['daily', '2026-03-25T02:59:59Z', 'complete'],
      ['daily', '2026-03-25T03:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'complete'],
    ],
    deleted: ['2026-03-25T02:59:59Z'],
    reasons: { '2026-03-25T03:00:00Z': /^within the 7-day daily retention$/ },
  },
  {
    name: 'exact boundary: a newer set exactly 7 days old still justifies deleting older ones',
    sets: [
      ['daily', '2026-03-01T02:00:00Z', 'complete'],
      ['daily', '2026-03-25T03:00:00Z', 'complete'],
    ],
    deleted: ['2026-03-01T02:00:00Z'],
  },
  {
    name: 'the newest complete set of each tier is never deleted, however old',
    sets: [
      ['daily', '2026-01-01T02:00:00Z', 'complete'],
      ['weekly', '2025-06-01T02:00:00Z', 'complete'],
      ['monthly', '2020-01-01T02:00:00Z', 'complete'],
      ['manual', '2019-01-01T02:00:00Z', 'unverified'],
    ],
    deleted: [],
    reasons: {
      '2026-01-01T02:00:00Z': /^newest complete daily set$/,
      '2025-06-01T02:00:00Z': /^newest complete weekly set$/,
      '2020-01-01T02:00:00Z': /^newest complete monthly set$/,
      '2019-01-01T02:00:00Z': /^newest complete manual set$/,
    },
  },
  {
    name: 'backups stopped for a month: nothing is deleted',
    now: '2026-05-01T03:00:00Z',
    sets: [
      ...days('daily', '2026-03-01T02:00:00Z', '2026-03-31T02:00:00Z'),
      ...days('weekly', '2026-01-04T03:00:00Z', '2026-03-29T03:00:00Z', 7),
      ['monthly', '2025-06-01T04:00:00Z', 'complete'],
      ['monthly', '2026-03-01T04:00:00Z', 'complete'],
    ],
    deleted: [],
    reasons: {
      '2026-03-01T02:00:00Z': /^older than the 7-day daily retention, but no newer complete, verified daily set within it exists: kept as a recovery point$/,
      '2026-01-04T03:00:00Z': /^older than the 30-day weekly retention, but no newer complete, verified weekly set/,
    },
  },
  {
    name: 'backups restart after a month: the first new set lets the old ones go',
    now: '2026-05-01T03:00:00Z',
    sets: [...days('daily', '2026-03-29T02:00:00Z', '2026-03-31T02:00:00Z'), ['daily', '2026-05-01T02:00:00Z', 'complete']],
    deleted: ['2026-03-29T02:00:00Z', '2026-03-30T02:00:00Z', '2026-03-31T02:00:00Z'],
  },
  {
    name: 'clock skew: a set dated in the future is kept and does not justify deleting older sets',
    sets: [
      ['daily', '2026-03-01T02:00:00Z', 'complete'],
      ['daily', '2026-03-10T02:00:00Z', 'complete'],
      ['daily', '2026-04-05T02:00:00Z', 'complete'],
      ['daily', '2026-04-06T02:00:00Z', 'partial'],
    ],
    deleted: [],
    reasons: {
      '2026-04-05T02:00:00Z': /^dated in the future \(clock skew\?\): never deleted, and not counted as a newer set$/,
      '2026-04-06T02:00:00Z': /^dated in the future/,
      '2026-03-10T02:00:00Z': /kept as a recovery point$/,
    },
  },
  {
    name: 'clock skew: with a future-dated set and a good recent one, the recent one is the evidence',
    sets: [
      ['daily', '2026-03-01T02:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'complete'],
      ['daily', '2026-09-01T02:00:00Z', 'complete'],
    ],
    deleted: ['2026-03-01T02:00:00Z'],
    reasons: { '2026-03-01T02:00:00Z': /\(scholaria_backup_20260331_020000\)$/ },
  },
  {
    name: 'clock skew: `now` earlier than every set keeps everything',
    now: '2025-12-31T00:00:00Z',
    sets: [
      ['daily', '2026-03-01T02:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'complete'],
      ['weekly', '2026-03-02T02:00:00Z', 'partial'],
      [null, '2026-03-03T02:00:00Z', 'unreadable'],
    ],
    deleted: [],
  },
  {
    name: 'mixed tiers: each tier is judged by its own retention and its own newer sets',
    sets: MIXED,
    deleted: ['2026-03-10T02:00:00Z', '2026-02-01T02:00:00Z', '2025-03-01T02:00:00Z'],
    reasons: {
      '2026-02-01T02:00:00Z': /^older than the 30-day weekly retention, and a newer complete, verified weekly set within it exists \(scholaria_backup_20260329_020000\)$/,
      '2025-03-01T02:00:00Z': /\(scholaria_backup_20260301_020000\)$/,
    },
  },
  {
    name: 'mixed tiers: recent weekly and monthly sets are not evidence for deleting daily sets',
    sets: [
      ['daily', '2026-03-01T02:00:00Z', 'complete'],
      ['daily', '2026-03-10T02:00:00Z', 'complete'],
      ['weekly', '2026-03-29T02:00:00Z', 'complete'],
      ['monthly', '2026-03-31T02:00:00Z', 'complete'],
      ['manual', '2026-03-31T12:00:00Z', 'complete'],
    ],
    deleted: [],
  },
  {
    name: 'manual sets follow the monthly retention, judged against manual sets only',
    sets: [
      ['manual', '2025-01-01T02:00:00Z', 'complete'],
      ['manual', '2026-01-15T02:00:00Z', 'complete'],
      ['manual', '2026-03-31T02:00:00Z', 'complete'],
      ['daily', '2026-03-30T02:00:00Z', 'complete'],
    ],
    deleted: ['2025-01-01T02:00:00Z'],
    reasons: {
      '2025-01-01T02:00:00Z': /^older than the 365-day manual retention \(the monthly one\), and a newer complete, verified manual set/,
      '2026-01-15T02:00:00Z': /^within the 365-day manual retention \(the monthly one\)$/,
    },
  },
  {
    name: 'partial sets do not count as newer sets and are removed after the daily retention, whatever their tier',
    sets: [
      ['daily', '2026-03-01T02:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'partial'],
      ['daily', '2026-03-20T02:00:00Z', 'partial'],
      ['weekly', '2026-03-19T02:00:00Z', 'complete'],
      ['weekly', '2026-03-21T02:00:00Z', 'partial'],
      ['monthly', '2026-03-25T02:59:59Z', 'partial'],
    ],
    deleted: ['2026-03-20T02:00:00Z', '2026-03-21T02:00:00Z', '2026-03-25T02:59:59Z'],
    reasons: {
      '2026-03-01T02:00:00Z': /^newest complete daily set$/,
      '2026-03-31T02:00:00Z': /^partial set within the 7-day daily retention$/,
      '2026-03-21T02:00:00Z': /^partial set older than the 7-day daily retention$/,
    },
  },
  {
    name: 'unreadable sets (tier unknown or not) never count and are removed after the daily retention',
    sets: [
      ['daily', '2026-03-01T02:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'unreadable'],
      [null, '2026-03-10T02:00:00Z', 'unreadable'],
      [null, '2026-03-30T02:00:00Z', 'unreadable'],
      ['monthly', '2026-02-01T02:00:00Z', 'unreadable'],
    ],
    deleted: ['2026-03-10T02:00:00Z', '2026-02-01T02:00:00Z'],
    reasons: { '2026-03-10T02:00:00Z': /^unreadable set older than the 7-day daily retention$/ },
  },
  {
    name: 'an unverified complete set is not evidence, but is deleted like any complete set',
    sets: [
      ['daily', '2026-03-01T02:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'unverified'],
      ['weekly', '2026-01-01T02:00:00Z', 'unverified'],
      ['weekly', '2026-03-30T02:00:00Z', 'complete'],
    ],
    deleted: ['2026-01-01T02:00:00Z'],
    reasons: { '2026-03-01T02:00:00Z': /kept as a recovery point$/ },
  },
  {
    name: 'the tiers option decides only those tiers; sets of unknown tier are decided in every run',
    options: { tiers: ['daily'] },
    sets: [
      ...MIXED,
      ['weekly', '2026-03-02T02:00:00Z', 'partial'],
      [null, '2026-03-03T02:00:00Z', 'unreadable'],
    ],
    deleted: ['2026-03-10T02:00:00Z', '2026-03-03T02:00:00Z'],
    reasons: {
      '2026-02-01T02:00:00Z': /^weekly sets are not pruned in this run \(it prunes daily\)$/,
      '2025-03-01T02:00:00Z': /^monthly sets are not pruned in this run \(it prunes daily\)$/,
    },
  },
  {
    name: 'an empty tiers option decides no tier',
    options: { tiers: [] },
    sets: MIXED,
    deleted: [],
    reasons: { '2026-03-10T02:00:00Z': /^daily sets are not pruned in this run \(it prunes no tier\)$/ },
  },
  {
    name: 'the configured days are used (daily retention of 1 day)',
    rules: { days: { daily: 1, weekly: 30, monthly: 365 } },
    sets: [
      ['daily', '2026-03-30T02:00:00Z', 'complete'],
      ['daily', '2026-03-31T02:00:00Z', 'complete'],
      ['daily', '2026-04-01T02:00:00Z', 'complete'],
      ['weekly', '2026-03-29T02:00:00Z', 'partial'],
    ],
    deleted: ['2026-03-30T02:00:00Z', '2026-03-31T02:00:00Z', '2026-03-29T02:00:00Z'],
  },
];

for (const c of cases) {
  test(`retention: ${c.name}`, () => {
    const sets = c.sets.map(candidate);
    const decisions = planRetention(sets, c.rules ?? RULES, new Date(c.now ?? NOW), c.options);
    assert.deepEqual(
      decisions.map((d) => d.name),
      sets.map((s) => s.name),
      'one decision per set, in the order given',
    );
    for (const d of decisions) assert.ok(d.reason.length > 0 && !d.reason.includes('\n'), `one-line reason for ${d.name}`);
    const deleted = decisions.filter((d) => d.action === 'delete').map((d) => d.name);
    assert.deepEqual([...deleted].sort(), c.deleted.map(nameAt).sort());
    for (const [iso, pattern] of Object.entries(c.reasons ?? {})) {
      const matching = decisions.filter((d) => d.name === nameAt(iso));
      assert.ok(matching.length > 0, `no set at ${iso}`);
      for (const d of matching) assert.match(d.reason, pattern, `${d.name}`);
    }
  });
}

test('retention: anything that is not a set name is refused, as are duplicates and bad inputs', () => {
  const ok: RetentionCandidate = { name: 'scholaria_backup_20260301_020000', tier: 'daily', status: 'complete', verified: true };
  const now = new Date(NOW);
  for (const name of ['.partial', 'scholaria_backup_latest', '../scholaria_backup_20260301_020000', 'scholaria_backup_20260301_020000/', 'scholaria_backup_20261341_020000', '']) {
    assert.throws(() => planRetention([{ ...ok, name }], RULES, now), RangeError, JSON.stringify(name));
  }
  assert.throws(() => planRetention([ok, { ...ok, tier: 'weekly' }], RULES, now), /listed twice/);
  assert.throws(() => planRetention([{ name: ok.name, status: 'partial', verified: false }], RULES, now), /has no tier/);
  assert.throws(() => planRetention([ok], RULES, new Date('not a date')), RangeError);
  assert.throws(() => planRetention([ok], { days: { daily: 0, weekly: 30, monthly: 365 } }, now), /daily retention must be a positive/);
  assert.throws(() => planRetention([ok], { days: { daily: 7, weekly: Number.NaN, monthly: 365 } }, now), RangeError);
});

test('retention: invariants hold over many generated histories', () => {
  // A small deterministic generator: no dependency, the same histories on every run.
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const now = new Date(NOW).getTime();
  const statuses = ['complete', 'complete', 'complete', 'partial', 'unreadable'] as const;
  for (let round = 0; round < 300; round += 1) {
    const byName = new Map<string, RetentionCandidate & { at: number }>();
    const count = Math.floor(random() * 25);
    for (let i = 0; i < count; i += 1) {
      // Mostly the past 400 days, sometimes a few days in the future.
      const at = now - Math.floor((random() * 410 - 10) * 86_400) * 1000;
      const status = statuses[Math.floor(random() * statuses.length)]!;
      const tier = TIERS[Math.floor(random() * TIERS.length)]!;
      const name = setNameOf(new Date(at));
      byName.set(name, { name, at, status, verified: random() < 0.8, ...(status === 'unreadable' && random() < 0.5 ? {} : { tier }) });
    }
    const sets = [...byName.values()];
    const decisions = planRetention(sets, RULES, new Date(now));
    sets.forEach((set, i) => {
      const decision = decisions[i]!;
      assert.equal(decision.name, set.name);
      if (decision.action === 'keep') return;
      const age = now - set.at;
      assert.ok(age > 7 * 86_400_000, `${set.name}: nothing younger than the shortest retention is deleted`);
      if (set.status !== 'complete') return;
      const days = set.tier === 'daily' ? 7 : set.tier === 'weekly' ? 30 : 365;
      assert.ok(age > days * 86_400_000, `${set.name}: older than its retention`);
      const evidence = sets.filter(
        (other) => other.tier === set.tier && other.status === 'complete' && other.verified && other.at > set.at && other.at <= now && now - other.at <= days * 86_400_000,
      );
      assert.ok(evidence.length > 0, `${set.name}: a newer complete, verified set within the retention exists`);
    });
    for (const tier of TIERS) {
      const complete = sets.filter((set) => set.tier === tier && set.status === 'complete').sort((a, b) => b.at - a.at);
      if (complete[0]) assert.equal(decisions[sets.indexOf(complete[0])]!.action, 'keep', `newest complete ${tier} set kept`);
    }
  }
});

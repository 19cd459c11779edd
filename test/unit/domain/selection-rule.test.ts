import { describe, expect, it } from 'vitest';
import { evaluateSelectionRule, parseSelectionRule, type SelectionRuleRequest } from '../../../server/domain/selection-rule.ts';
import fixture from '../../fixtures/selection-rules.json' with { type: 'json' };

type RuleEntry = string | { rule: string; repeat?: number };

/** A fixture rule: the text itself, or `{rule, repeat}` for long ones. */
function ruleText(entry: RuleEntry): string {
  return typeof entry === 'string' ? entry : entry.rule.repeat(entry.repeat ?? 1);
}

function label(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}... (${text.length} chars)` : text;
}

describe('parseSelectionRule', () => {
  it.each((fixture.valid as RuleEntry[]).map((entry) => [label(ruleText(entry)), ruleText(entry)]))('accepts %s', (_, text) => {
    expect(parseSelectionRule(text)).toEqual({ ok: true });
  });

  it.each(fixture.invalid.map((entry) => [label(ruleText(entry)), entry] as const))('rejects %s with its message and offset', (_, entry) => {
    expect(parseSelectionRule(ruleText(entry))).toEqual({ ok: false, message: entry.message, offset: entry.offset });
  });
});

describe('evaluateSelectionRule', () => {
  it.each(fixture.evaluations.map((c) => [c.rule, JSON.stringify(c.request), JSON.stringify(c.claims), c.expected, c] as const))(
    '%s on %s with claims %s is %s',
    (_rule, _request, _claims, _expected, c) => {
      expect(evaluateSelectionRule(c.rule, { ...(c.request as SelectionRuleRequest), claims: c.claims })).toBe(c.expected);
    },
  );

  it('throws when the rule is invalid', () => {
    expect(() => evaluateSelectionRule('method ==', { method: 'GET', path: '/' })).toThrow(/expected a value at offset 9/);
  });
});

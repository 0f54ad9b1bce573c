import { InvalidInputError } from '../common/errors';
import { decisionNote, proposalArgs, ruleId } from './mitigation.args';

const field = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof InvalidInputError) return e.field;
    throw e;
  }
  return null;
};

describe('proposalArgs (REST body and GraphQL arguments alike)', () => {
  it('a rule: defaults for the optional fields, the required ones named when missing', () => {
    expect(proposalArgs({ srcPrefix: '203.0.113.0/24', ttlSeconds: 600, reason: 'flood' })).toEqual({
      rule: {
        srcPrefix: '203.0.113.0/24',
        dst: null,
        port: 0,
        protocol: 'any',
        ttlSeconds: 600,
        reason: 'flood',
        dryRun: undefined,
        hosts: undefined,
      },
    });
    expect(field(() => proposalArgs({ ttlSeconds: 600, reason: 'flood' }))).toBe('srcPrefix');
    expect(field(() => proposalArgs({ srcPrefix: '203.0.113.0/24', reason: 'flood' }))).toBe('ttlSeconds');
    expect(field(() => proposalArgs({ srcPrefix: '203.0.113.0/24', ttlSeconds: 600 }))).toBe('reason');
  });
  it('refuses unknown fields, wrong types and a null dryRun (a body states its types)', () => {
    const base = { srcPrefix: '203.0.113.0/24', ttlSeconds: 600, reason: 'flood' };
    expect(field(() => proposalArgs({ ...base, extra: 1 }))).toBe('extra');
    expect(field(() => proposalArgs({ ...base, port: 1.5 }))).toBe('port');
    expect(field(() => proposalArgs({ ...base, dst: 7 }))).toBe('dst');
    expect(field(() => proposalArgs({ ...base, hosts: 'edge-1' }))).toBe('hosts');
    expect(field(() => proposalArgs({ ...base, dryRun: null }))).toBe('dryRun');
  });
  it("an alert's proposal: alertId with at most ttlSeconds and dryRun", () => {
    expect(proposalArgs({ alertId: '0123456789abcdef', ttlSeconds: 300, dryRun: true })).toEqual({
      alertId: '0123456789abcdef',
      ttlSeconds: 300,
      dryRun: true,
    });
    expect(field(() => proposalArgs({ alertId: '0123456789abcdef', srcPrefix: '203.0.113.0/24' }))).toBe('srcPrefix');
    expect(field(() => proposalArgs({ alertId: 'not-an-alert' }))).toBe('alertId');
  });
});

describe('decision arguments', () => {
  it('a note is optional text of at most 500 characters; a rule id is a lower-case UUID', () => {
    expect(decisionNote(undefined)).toBe('');
    expect(decisionNote('seen on the graphs')).toBe('seen on the graphs');
    expect(field(() => decisionNote('x'.repeat(501)))).toBe('note');
    expect(field(() => decisionNote(null))).toBe('note');
    expect(ruleId('0c1f5b7e-2a4d-4c8e-9f00-1234567890ab')).toBe('0c1f5b7e-2a4d-4c8e-9f00-1234567890ab');
    expect(field(() => ruleId('0C1F5B7E-2A4D-4C8E-9F00-1234567890AB'))).toBe('id');
    expect(field(() => ruleId(7))).toBe('id');
  });
});

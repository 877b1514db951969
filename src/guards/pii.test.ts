import { describe, expect, it } from 'vitest';
import {
  detectPii,
  isCardNumber,
  isLuhnValid,
  isPhoneNumber,
  isValidIban,
  redactPii,
  type PiiEntity,
} from './pii.js';

const found = (text: string, entities?: PiiEntity[]) =>
  detectPii(text, entities).map((span) => [span.entity, text.slice(span.start, span.end)]);

describe('Luhn and mod-97 checks', () => {
  it('accepts valid card numbers and refuses a changed digit', () => {
    for (const card of [
      '4111111111111111',
      '5555555555554444',
      '378282246310005',
      '6011111111111117',
      '3530111333300000',
    ]) {
      expect(isLuhnValid(card)).toBe(true);
      expect(isCardNumber(card)).toBe(true);
    }
    expect(isLuhnValid('4111111111111112')).toBe(false);
    expect(isCardNumber('4111 1111 1111 1112')).toBe(false);
    expect(isLuhnValid('41111a')).toBe(false);
    // Luhn-valid but no card network starts with 9: an order number, not a card.
    expect(isLuhnValid('9111111111111110')).toBe(true);
    expect(isCardNumber('9111111111111110')).toBe(false);
  });

  it('accepts valid IBANs (any case, spaced) and refuses a changed digit or a wrong length', () => {
    for (const iban of [
      'GB82WEST12345698765432',
      'DE89 3704 0044 0532 0130 00',
      'fr1420041010050500013m02606',
      'NL91ABNA0417164300',
    ]) {
      expect(isValidIban(iban)).toBe(true);
    }
    expect(isValidIban('GB82WEST12345698765433')).toBe(false);
    expect(isValidIban('DE89370400440532013000 0')).toBe(false);
    expect(isValidIban('GB82WEST1234569876543')).toBe(false);
  });
});

describe('detectPii', () => {
  it('finds each kind in a sentence', () => {
    expect(found('Write to ana.silva+trip@example.co.uk today')).toEqual([
      ['email', 'ana.silva+trip@example.co.uk'],
    ]);
    expect(found('Card 4111 1111 1111 1111, exp 12/27')).toEqual([['card', '4111 1111 1111 1111']]);
    expect(found('IBAN: DE89 3704 0044 0532 0130 00 please')).toEqual([
      ['iban', 'DE89 3704 0044 0532 0130 00'],
    ]);
    expect(found('SSN 123-45-6789.')).toEqual([['ssn', '123-45-6789']]);
    expect(found('fax +447700677662 mobile, or +46 (0)8 928 571 38')).toEqual([
      ['phone', '+447700677662'],
      ['phone', '+46 (0)8 928 571 38'],
    ]);
    expect(found('call +1-415-555-0134 or (020) 7946 0958')).toEqual([
      ['phone', '+1-415-555-0134'],
      ['phone', '(020) 7946 0958'],
    ]);
    expect(found('key sk-proj-abcdefghijklmnopqrstuvwxyz0123 and AKIAIOSFODNN7EXAMPLE')).toEqual([
      ['api_key', 'sk-proj-abcdefghijklmnopqrstuvwxyz0123'],
      ['api_key', 'AKIAIOSFODNN7EXAMPLE'],
    ]);
    expect(found('Authorization: Bearer abc.DEF-123_xyz~9')).toEqual([['bearer_token', 'abc.DEF-123_xyz~9']]);
    expect(found('{"api_key": "Zx81kQ0pLmN2vB7cR4tY"}')).toEqual([['api_key', 'Zx81kQ0pLmN2vB7cR4tY']]);
  });

  it('leaves look-alikes alone', () => {
    expect(found('Card 4111 1111 1111 1112 (a typo)')).toEqual([]);
    expect(found('IBAN GB82WEST12345698765433 is mistyped')).toEqual([]);
    expect(found('SSNs never start with 000: 000-12-3456, nor 666-12-3456, nor 912-12-3456')).toEqual([]);
    expect(found('On 2024-03-15 12:30 we paid $2,099.00; server 192.168.10.12; years 2010-2020')).toEqual([]);
    expect(found('room 42, 3 nights, flight LH 1234, 1.000.000 visitors, ZIP 75534-030')).toEqual([]);
    expect(found('the task-abcdefghijklmnopqrstuvwx id and a user@localhost address')).toEqual([]);
    expect(found('They live at 17151 2450 Crown St')).toEqual([]);
  });

  it('lets the more specific kind win an overlap', () => {
    expect(found('Bearer sk-abcdefghijklmnopqrstuvwxyz')).toEqual([
      ['bearer_token', 'sk-abcdefghijklmnopqrstuvwxyz'],
    ]);
    expect(found('4111111111111111')).toEqual([['card', '4111111111111111']]);
  });

  it('looks only for the kinds asked for', () => {
    expect(found('a@b.io 123-45-6789', ['ssn'])).toEqual([['ssn', '123-45-6789']]);
  });

  it('judges phone shapes', () => {
    expect(isPhoneNumber('905-674-3793')).toBe(true);
    expect(isPhoneNumber('+46 (0)8 928 571 38')).toBe(true);
    expect(isPhoneNumber('345-899-3560x4587')).toBe(true);
    expect(isPhoneNumber('1 2 3 4 5 6 7')).toBe(false);
    expect(isPhoneNumber('12345')).toBe(false);
    expect(isPhoneNumber('1234567')).toBe(false);
  });
});

describe('redactPii', () => {
  it('replaces every value by its label and keeps no original value', () => {
    const secrets = [
      'jo@example.com',
      '4111-1111-1111-1111',
      'GB82 WEST 1234 5698 7654 32',
      '123-45-6789',
      '+44 20 7946 0958',
    ];
    const text = `Guest ${secrets[0]} paid with ${secrets[1]}, refund to ${secrets[2]}, SSN ${secrets[3]}, tel ${secrets[4]}.`;
    const redacted = redactPii(text);
    expect(redacted).toBe('Guest [EMAIL] paid with [CARD], refund to [IBAN], SSN [SSN], tel [PHONE].');
    for (const secret of secrets) expect(redacted).not.toContain(secret);
  });
});

describe('scanning adversarial input', () => {
  it('finishes on 100 KB strings built to make regexes backtrack', () => {
    const inputs = [
      'a'.repeat(100_000),
      'a.'.repeat(50_000) + '@',
      'a@' + 'a.'.repeat(50_000),
      '1 '.repeat(50_000),
      '1-'.repeat(50_000),
      '(1'.repeat(50_000),
      'GB82 '.repeat(20_000),
      'Bearer '.repeat(14_000) + 'x'.repeat(2_000),
      'api_key='.repeat(12_500),
      'eyJ' + 'a'.repeat(50_000) + '.eyJ' + 'a'.repeat(49_000),
    ];
    const started = Date.now();
    for (const input of inputs) {
      expect(input.length).toBeGreaterThanOrEqual(98_000);
      detectPii(input);
    }
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

// Topic matching, RabbitMQ-style: dot-separated words; in a pattern `*` matches exactly one word and `#` any number
// of words, including none.
import { ValidationError } from './errors.ts';

const WORD_RE = /^[A-Za-z0-9_\-:]+$/;

export function checkTopic(topic: unknown): string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > 255 || !topic.split('.').every((w) => WORD_RE.test(w))) {
    throw new ValidationError('topic: must be dot-separated words of letters, digits, _ - : (at most 255 characters)', 'topic');
  }
  return topic;
}

export function checkPattern(pattern: unknown): string {
  if (
    typeof pattern !== 'string' ||
    pattern.length === 0 ||
    pattern.length > 255 ||
    !pattern.split('.').every((w) => w === '*' || w === '#' || WORD_RE.test(w))
  ) {
    throw new ValidationError('pattern: must be dot-separated words, each a word, * (one word) or # (any words)', 'pattern');
  }
  return pattern;
}

export function topicMatches(pattern: string, topic: string): boolean {
  return matchWords(pattern.split('.'), 0, topic.split('.'), 0);
}

function matchWords(p: string[], i: number, t: string[], j: number): boolean {
  if (i === p.length) return j === t.length;
  if (p[i] === '#') {
    // `#` takes zero words, or one more word and stays.
    for (let k = j; k <= t.length; k++) if (matchWords(p, i + 1, t, k)) return true;
    return false;
  }
  if (j === t.length) return false;
  return (p[i] === '*' || p[i] === t[j]) && matchWords(p, i + 1, t, j + 1);
}

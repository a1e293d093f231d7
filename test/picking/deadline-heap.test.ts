import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineHeap } from '../../src/picking/deadline-heap.js';
import { seededRandom } from '../helpers/random.js';

describe('DeadlineHeap', () => {
  it('is empty at first: peek is Infinity', () => {
    const heap = new DeadlineHeap();
    assert.equal(heap.size, 0);
    assert.equal(heap.peek(), Infinity);
  });

  it('gives entries back earliest first while pushes and pops interleave (against a sorted list)', () => {
    const random = seededRandom(9);
    const heap = new DeadlineHeap();
    const reference: { deadline: number; item: number }[] = [];
    for (let step = 0; step < 20_000; step++) {
      if (random() < 0.6 || reference.length === 0) {
        // Repeated deadlines included: ties may come out in any order.
        const deadline = Math.floor(random() * 500);
        const item = Math.floor(random() * 1_000);
        heap.push(deadline, item);
        reference.push({ deadline, item });
      } else {
        reference.sort((a, b) => a.deadline - b.deadline);
        const earliest = reference[0]?.deadline;
        assert.equal(heap.peek(), earliest);
        const item = heap.peekItem();
        const at = reference.findIndex((entry) => entry.deadline === earliest && entry.item === item);
        assert.ok(at >= 0, `item ${item} is queued under ${String(earliest)}`);
        reference.splice(at, 1);
        heap.pop();
      }
      assert.equal(heap.size, reference.length);
    }
  });

  it('clears', () => {
    const heap = new DeadlineHeap();
    for (let i = 0; i < 100; i++) heap.push(100 - i, i);
    assert.equal(heap.peekItem(), 99);
    heap.clear();
    assert.equal(heap.size, 0);
    assert.equal(heap.peek(), Infinity);
  });
});

// kafkajs 2.2.4 keeps the consumer group's generation id (strictly increasing per group, assigned by the broker's
// group coordinator at every rebalance) to itself: its GROUP_JOIN event carries the member id and assignment but
// not the generation. The aggregator fences writes by it (docs/aggregator.md), so this adds it to the event.

/** The kafkajs internals this patch relies on (kafkajs/src/consumer/consumerGroup, 2.2.x). */
interface ConsumerGroupProto {
  generationId: number | null;
  instrumentationEmitter: EmitterLike;
  joinAndSync(): Promise<void>;
  __tmaGenerationPatched?: boolean;
}

interface EmitterLike {
  emit(eventName: string, payload?: Record<string, unknown>): void;
  /** The group whose join this emitter reports (a consumer makes a new group object on every run). */
  __tmaGroup?: { generationId: number | null };
}

/**
 * Makes every kafkajs consumer's GROUP_JOIN event payload carry `generationId`: the generation the member joined.
 * Patches the shared ConsumerGroup prototype (every consumer in the process, including ones created earlier);
 * idempotent. Throws if kafkajs no longer has the internals it wraps, so a kafkajs upgrade cannot silently drop it.
 */
export function patchKafkajsGroupGeneration(): void {
  // A deep require: the class is not part of kafkajs' public API.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup') as { prototype: ConsumerGroupProto };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { events } = require('kafkajs/src/consumer/instrumentationEvents') as { events: { GROUP_JOIN: string } };
  const proto = ConsumerGroup.prototype;
  if (proto.__tmaGenerationPatched) return;
  if (typeof proto.joinAndSync !== 'function' || !events?.GROUP_JOIN)
    throw new Error(
      'kafkajs internals changed: cannot read the consumer group generation (libs/kafka group-generation.ts)',
    );
  const joinAndSync = proto.joinAndSync;
  proto.joinAndSync = function (this: ConsumerGroupProto) {
    const em = this.instrumentationEmitter;
    if (em.__tmaGroup === undefined) {
      const emit = em.emit.bind(em);
      em.emit = (name, payload) =>
        emit(name, name === events.GROUP_JOIN ? { ...payload, generationId: em.__tmaGroup?.generationId } : payload);
    }
    em.__tmaGroup = this;
    return joinAndSync.call(this);
  };
  proto.__tmaGenerationPatched = true;
}

/** The generation id of a GROUP_JOIN event's payload (patchKafkajsGroupGeneration must have been applied). */
export function joinedGeneration(payload: object): number {
  const g = (payload as { generationId?: unknown }).generationId;
  if (typeof g !== 'number' || !Number.isInteger(g) || g < 0)
    throw new Error(
      `GROUP_JOIN carries no generation id (got ${String(g)}): patchKafkajsGroupGeneration() not applied`,
    );
  return g;
}

import type { Admin, ITopicConfig } from 'kafkajs';

/**
 * Creates the topics that do not exist yet. A fresh broker can answer createTopics from stale metadata
 * (leader not available, or "already exists" races), so refresh and retry a few times before giving up.
 */
export async function ensureTopics(admin: Admin, topics: ITopicConfig[], attempts = 10): Promise<void> {
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
      await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 200 * (i + 1)));
    }
  }
  throw new Error(`could not create topics ${topics.map((t) => t.topic).join(', ')}: ${String(lastError)}`);
}

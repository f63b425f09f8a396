// A topic is one (stream, symbol) pair: the unit the gateway holds, seqs
// count and recovery replays. Both the seq tracking and the subscriptions
// key their maps by it.

/** TICKS is the stream a subscription without one gets; its requests carry no `stream` field, as before streams. */
export const TICKS = "ticks";

/** BOOK and STATUS are the streams whose messages are state the client keeps (depth.js). */
export const BOOK = "book", STATUS = "status";

/** topicOf is the key of a (stream, symbol) pair: neither may contain a space. */
export const topicOf = (stream, sym) => stream + " " + sym;

/** splitTopic is the inverse of topicOf. */
export function splitTopic(topic) {
  const i = topic.indexOf(" ");
  return [topic.slice(0, i), topic.slice(i + 1)];
}

// Receipt, in JavaScript: formats an order into receipt lines and, if granted the queue
// `receipts`, sends the receipt there. An order without items fails with `InvalidOrder`.
import { Failure, log, queue, task } from '../../../sdk/js/sandflow.js';

export const run = task((order) => {
  const items = order.items ?? [];
  if (items.length === 0) throw new Failure('InvalidOrder', 'the order has no items');
  const lines = items.map((i) => `${i.quantity ?? 1} x ${i.sku}`);
  const receipt = { orderId: order.orderId, lines, itemCount: items.reduce((n, i) => n + (i.quantity ?? 1), 0) };
  if (order.sendTo) {
    receipt.messageId = queue.send(order.sendTo, receipt);
  }
  log(`receipt for ${order.orderId}`);
  return receipt;
});

import { amount, date, facts, paragraph, value, type PlatformEvent } from './platformEmails.ts';

const INVOICE = value('Invoice', 'data.invoiceNumber');
const PLAN = value('Plan', 'data.planName');
const INVOICE_URL = 'https://portal.example.com/billing/invoices/INV-2026-0042';
const BILLING_URL = 'https://portal.example.com/billing';

/** The customer's side of the billing events (SPEC §3.2). */
export const billingEvents: PlatformEvent[] = [
  {
    type: 'billing.invoice-generated',
    inapp: {
      title: 'Invoice {{data.invoiceNumber}}: {{data.amount}} {{data.currency}}',
      body: '{{#if data.dueDate}}Due {{formatDate data.dueDate}}.{{/if}}',
      url: '{{data.invoiceUrl}}',
    },
    email: {
      subject: 'Invoice {{data.invoiceNumber}} for {{data.amount}} {{data.currency}}',
      heading: 'Your invoice',
      intro: 'Your new invoice is ready.',
      blocks: [facts(value('Invoice number', 'data.invoiceNumber'), amount('Amount', 'data.amount'), date('Due', 'data.dueDate'))],
      action: { label: 'View invoice', url: 'data.invoiceUrl' },
    },
    sampleData: { invoiceNumber: 'INV-2026-0042', amount: '33.80', currency: 'EUR', dueDate: '2026-12-07T23:59:00Z', invoiceUrl: INVOICE_URL },
  },
  {
    type: 'billing.payment-received',
    inapp: {
      title: 'Payment received: {{data.amount}} {{data.currency}}',
      body: 'Thank you{{#if data.invoiceNumber}}: invoice {{data.invoiceNumber}} is paid{{/if}}.',
      url: '{{data.invoiceUrl}}',
    },
    email: {
      subject: 'Payment received{{#if data.invoiceNumber}} for invoice {{data.invoiceNumber}}{{/if}}',
      heading: 'Thank you for your payment',
      intro: 'We have received your payment of {{data.amount}} {{data.currency}}.',
      blocks: [facts(amount('Amount', 'data.amount'), INVOICE, value('Paid with', 'data.paymentMethod'), date('Paid', 'data.paidAt'))],
      action: { label: 'View invoice', url: 'data.invoiceUrl' },
    },
    sampleData: {
      invoiceNumber: 'INV-2026-0042',
      amount: '33.80',
      currency: 'EUR',
      paymentMethod: 'Visa ending in 4242',
      paidAt: '2026-11-30T09:15:00Z',
      invoiceUrl: INVOICE_URL,
    },
  },
  {
    type: 'billing.subscription-past-due',
    inapp: {
      title: 'Payment overdue{{#if data.planName}}: {{data.planName}}{{/if}}',
      body: 'Invoice {{data.invoiceNumber}} of {{data.amount}} {{data.currency}}{{#if data.dueDate}} was due {{formatDate data.dueDate}}{{/if}}. Please pay it to keep your subscription active.',
      url: '{{data.invoiceUrl}}',
    },
    email: {
      subject: 'Payment overdue{{#if data.planName}} for {{data.planName}}{{/if}}',
      heading: 'Your payment is overdue',
      intro: 'We have not received payment for invoice {{data.invoiceNumber}}. Please pay it to keep your subscription active.',
      blocks: [facts(PLAN, INVOICE, amount('Amount due', 'data.amount'), date('Was due', 'data.dueDate'))],
      action: { label: 'Pay invoice', url: 'data.invoiceUrl' },
    },
    sampleData: {
      planName: 'VPS Standard, monthly',
      invoiceNumber: 'INV-2026-0042',
      amount: '33.80',
      currency: 'EUR',
      dueDate: '2026-12-07T23:59:00Z',
      invoiceUrl: INVOICE_URL,
    },
  },
  {
    type: 'billing.refund-completed',
    inapp: {
      title: 'Refund of {{data.amount}} {{data.currency}} completed',
      body: 'It can take a few business days to show on your statement.',
      url: '{{data.url}}',
    },
    email: {
      subject: 'Your refund of {{data.amount}} {{data.currency}} is complete',
      heading: 'Refund completed',
      intro: 'We have refunded {{data.amount}} {{data.currency}}{{#if data.paymentMethod}} to {{data.paymentMethod}}{{/if}}.',
      blocks: [
        facts(amount('Amount', 'data.amount'), INVOICE, value('Reason', 'data.reason')),
        paragraph('It can take a few business days to show on your statement.'),
      ],
      action: { label: 'View billing', url: 'data.url' },
    },
    sampleData: {
      amount: '33.80',
      currency: 'EUR',
      invoiceNumber: 'INV-2026-0042',
      paymentMethod: 'Visa ending in 4242',
      reason: 'Order ORD-1044 cancelled',
      url: BILLING_URL,
    },
  },
  {
    type: 'billing.subscription-cancelled',
    inapp: {
      title: 'Subscription cancelled{{#if data.planName}}: {{data.planName}}{{/if}}',
      body: '{{#if data.endsAt}}It stays active until {{formatDate data.endsAt}}.{{/if}}',
      url: '{{data.url}}',
    },
    email: {
      subject: 'Your subscription{{#if data.planName}} to {{data.planName}}{{/if}} is cancelled',
      heading: 'Subscription cancelled',
      intro: 'Your subscription has been cancelled{{#if data.endsAt}}; it stays active until {{formatDate data.endsAt}}{{/if}}.',
      blocks: [facts(PLAN, date('Active until', 'data.endsAt'), value('Reason', 'data.reason'))],
      action: { label: 'View subscriptions', url: 'data.url' },
    },
    sampleData: { planName: 'VPS Standard, monthly', endsAt: '2026-12-31T23:59:00Z', reason: 'Cancelled at your request', url: BILLING_URL },
  },
];

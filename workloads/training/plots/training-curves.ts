import type { EpochRecord } from '../loop';
import { renderChartPng } from './render';

/** Loss and accuracy per epoch (training and validation), with the fine-tuning phase marked. */
export async function trainingCurvesPng(history: EpochRecord[], title: string): Promise<Buffer> {
  const epochs = history.map((h) => String(h.epoch));
  const firstFineTune = history.find((h) => h.phase === 'finetune')?.epoch;
  const mark = firstFineTune
    ? {
        silent: true,
        symbol: 'none',
        lineStyle: { type: 'dashed' as const, color: '#999' },
        label: { formatter: 'fine-tune' },
        data: [{ xAxis: String(firstFineTune) }],
      }
    : undefined;
  return renderChartPng(
    {
      title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
      legend: { top: 36 },
      grid: [
        { left: 60, right: 30, top: 80, height: 165 },
        { left: 60, right: 30, top: 305, height: 165 },
      ],
      xAxis: [
        { type: 'category', data: epochs, gridIndex: 0 },
        { type: 'category', data: epochs, gridIndex: 1, name: 'epoch', nameLocation: 'middle', nameGap: 28 },
      ],
      yAxis: [
        { type: 'value', name: 'loss', gridIndex: 0 },
        { type: 'value', name: 'accuracy', gridIndex: 1, min: 0, max: 1 },
      ],
      series: [
        { name: 'train loss', type: 'line', xAxisIndex: 0, yAxisIndex: 0, data: history.map((h) => h.loss), markLine: mark },
        { name: 'validation loss', type: 'line', xAxisIndex: 0, yAxisIndex: 0, data: history.map((h) => h.valLoss) },
        { name: 'train accuracy', type: 'line', xAxisIndex: 1, yAxisIndex: 1, data: history.map((h) => h.accuracy), markLine: mark },
        { name: 'validation accuracy', type: 'line', xAxisIndex: 1, yAxisIndex: 1, data: history.map((h) => h.valAccuracy) },
      ],
    },
    760,
    520,
  );
}

import { renderChartPng } from './render';

/** Confusion-matrix heatmap (rows: true class, columns: predicted), each row normalised to recall. */
export async function confusionMatrixPng(labels: string[], confusion: number[][], title: string): Promise<Buffer> {
  const n = labels.length;
  const data: Array<[number, number, number]> = [];
  confusion.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => data.push([p, n - 1 - t, total > 0 ? Math.round((count / total) * 100) / 100 : 0]));
  });
  const cell = Math.max(18, Math.min(40, Math.floor(900 / Math.max(1, n))));
  const width = Math.max(560, 220 + cell * n + 90);
  const height = 140 + cell * n + 170;
  return renderChartPng(
    {
      title: { text: 'test confusion matrix (rows: true breed, normalised)', subtext: title, left: 'center', textStyle: { fontSize: 13 } },
      grid: { left: 200, right: 90, top: 70, bottom: 170 },
      xAxis: {
        type: 'category',
        data: labels,
        name: 'predicted',
        nameLocation: 'middle',
        nameGap: 150,
        axisLabel: { rotate: 60, fontSize: 10 },
      },
      yAxis: {
        type: 'category',
        data: labels.slice().reverse(),
        name: 'true',
        nameLocation: 'middle',
        nameGap: 185,
        axisLabel: { fontSize: 10 },
      },
      visualMap: {
        min: 0,
        max: 1,
        calculable: false,
        orient: 'vertical',
        right: 10,
        top: 'middle',
        inRange: { color: ['#f7fbff', '#08306b'] },
      },
      series: [
        {
          type: 'heatmap',
          data,
          label: { show: n <= 25, fontSize: 8, formatter: (p) => ((p.value as number[])[2] > 0 ? String((p.value as number[])[2]) : '') },
        },
      ],
    },
    width,
    height,
  );
}

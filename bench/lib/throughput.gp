# Throughput chart of docs/BENCHMARKS.md: every HTTP peer, Connection: close
# and keep-alive, side by side. Called by bench/run:
#   gnuplot -e "datafile='...'; outfile='...'" bench/lib/throughput.gp
set terminal svg size 900,480 dynamic font "sans,12" background rgb "white"
set output outfile
set termoption noenhanced
set title "GET / -> \"hello\" over loopback, 2 workers, wrk -t1 -c32: median requests per second"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside bottom center horizontal
set grid ytics
set ylabel "requests per second"
set yrange [0:*]
set xtics nomirror
set format y "%.0s%c"
plot datafile using 2:xtic(1) title "Connection: close (one connection per request)" lc rgb "#d95f02", \
     "" using 3 title "keep-alive" lc rgb "#1b9e77"

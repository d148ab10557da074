set terminal pngcairo size 900,540
set output 'bench/results/2026-11-26/conn_rate.png'
set title 'New connections per second through the service (wrk, Connection: close)'
set logscale x; set xlabel 'services loaded'; set ylabel 'connections/s'; set key outside
plot for [i=0:4] 'bench/results/2026-11-26/conn.dat' index i using 1:2:3:4 with yerrorlines title word('floor kxdp bridge nftables iptables', i+1)

set output 'bench/results/2026-11-26/program_cost.png'
set title 'Program cost per packet (BPF_PROG_RUN, minus an empty program)'
set xlabel 'services loaded'; set ylabel 'ns'; set logscale y
plot for [i=0:4] 'bench/results/2026-11-26/cost.dat' index i using 1:2:3:4 with yerrorlines title word('new_flow established established_warm reverse_nat_warm local_redirect_warm', i+1)
unset logscale y

unset logscale x; set output 'bench/results/2026-11-26/pod_to_pod.png'; set size 1,1
set title 'Pod to pod: TCP ping-pong p50 RTT (us, left) and iperf3 (Gbit/s, right)'
set style data histograms; set style fill solid 0.6; set boxwidth 0.4
set xtics rotate by -20; set ylabel 'us'; set y2label 'Gbit/s'; set y2tics; unset logscale
set xlabel ''
plot 'bench/results/2026-11-26/p2p.dat' using 3:xtic(2) title 'RTT p50 (us)', '' using 4 axes x1y2 title 'Gbit/s'

#!/usr/bin/perl
# make bench: turns the raw results of tests/bench/run-bench (RAWDIR) into
# OUTDIR/{inval,floor,fault,copy,fanout,targets}.json, OUTDIR/summary.md,
# OUTDIR/latency-cdf.png (gnuplot) and prints the summary table.
# Exit status: 0 when every part was measured (misses included), 1 if a part
# is missing or unreadable.
#
# usage: report.pl RAWDIR OUTDIR
use strict;
use warnings;
use JSON::PP;

my ($raw, $out) = @ARGV;
die "usage: report.pl RAWDIR OUTDIR\n" unless $raw && $out;
my $json = JSON::PP->new->canonical->pretty;
my @problems;

sub slurp {
	my ($f) = @_;
	open(my $fh, '<', $f) or return undef;
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}
sub load {
	my ($f) = @_;
	my $s = slurp("$raw/$f");
	unless (defined $s) { push @problems, "$f missing"; return undef; }
	my $v = eval { decode_json($s) };
	push @problems, "$f: not JSON ($@)" unless $v;
	return $v;
}
sub save {
	my ($f, $v) = @_;
	open(my $fh, '>', "$out/$f") or die "$out/$f: $!\n";
	print $fh $json->encode($v);
	close $fh;
}
sub samples {
	my ($f) = @_;
	open(my $fh, '<', $f) or return ();
	my @v = map { chomp; $_ } <$fh>;
	close $fh;
	return sort { $a <=> $b } @v;
}

# ---- inputs ----
my $inval = load('inval.json');
my $fault = load('fault.json');
my $copy = load('copy.json');
my $fanout = load('fanout.json');
my @munmap;
if (open(my $fh, '<', "$raw/munmap.jsonl")) {
	@munmap = map { decode_json($_) } grep { /\S/ } <$fh>;
	close $fh;
}
push @problems, "munmap.jsonl: no results" unless @munmap;

# fi_pingpong prints usec/xfer = elapsed / (iterations * 2): half a round trip.
# It runs before and after the xpmem figures; the floor is the mean of the two.
my %pp;
for my $tag ('before', 'after', '') {
	for my $side ('client', 'server') {
		my $f = $tag ? "pingpong-$tag-$side.txt" : "pingpong-$side.txt";
		my $s = slurp("$raw/$f") // '';
		for (split /\n/, $s) {
			my @f = split;
			if (@f >= 8 && $f[0] eq '64' && $f[6] =~ /^[0-9.]+$/ && !$pp{$tag || 'once'}) {
				$pp{$tag || 'once'} = { usec_per_xfer => $f[6] + 0, time => $f[4],
							iterations => $f[1], file => $f };
			}
		}
	}
}
my @ppruns = grep { $_ } @pp{'before', 'after', 'once'};
my $pp = @ppruns ? { iterations => $ppruns[0]{iterations},
		     usec_per_xfer => (eval { my $t = 0; $t += $_->{usec_per_xfer} for @ppruns; $t / @ppruns }) } : undef;
push @problems, "fi_pingpong: no result (pingpong-*.txt)" unless $pp;
my $rtt = $pp ? 2 * $pp->{usec_per_xfer} : undef;

my %series;
if ($inval) {
	$series{"$_->{range}-$_->{op}"} = $_ for @{$inval->{series}};
}

# ---- per-part JSON ----
save('inval.json', $inval) if $inval;
my $floor = {
	bench => 'floor',
	fi_pingpong => $pp ? {
		command => 'fi_pingpong -p tcp -e rdm -I N -S 64 (server on partition 0, client on partition 1)',
		usec_per_xfer => $pp->{usec_per_xfer},
		round_trip_us => $rtt,
		note => 'fabtests usec/xfer = elapsed / (iterations * 2), i.e. half a round trip',
		raw => \%pp,
	} : undef,
	tcp_socket_rtt_us => $inval ? $inval->{tcp_rtt_us} : undef,
	munmap_no_remote_mapping => \@munmap,
};
save('floor.json', $floor);
save('fault.json', $fault) if $fault;
save('copy.json', $copy) if $copy;
if ($fanout) {
	my %c = %$fanout;
	$c{results} = [ map { my %r = %$_; delete $r{raw_us}; \%r } @{$fanout->{results}} ];
	save('fanout.json', \%c);
}

# ---- the table ----
my @rows;	# [measure, value, floor name, floor value, ratio, target text, pass (undef: info)]
sub fmt {
	my ($v, $unit) = @_;
	return 'n/a' unless defined $v;
	return sprintf('%.0f %s', $v, $unit) if $v >= 100;
	return sprintf('%.2f %s', $v, $unit) if $v >= 1;
	return sprintf('%.3f %s', $v, $unit);
}
sub row {
	my ($what, $v, $unit, $fname, $fv, $funit, $limit, $cmp) = @_;
	my $ratio = (defined $v && defined $fv && $fv) ? $v / $fv : undef;
	my ($target, $pass) = ('', undef);
	if (defined $limit) {
		$target = ($cmp // '<=') . " ${limit}x";
		$pass = defined $ratio ? (($cmp // '<=') eq '>=' ? $ratio >= $limit : $ratio <= $limit) : 0;
	}
	push @rows, [ $what, fmt($v, $unit), $fname ? "$fname " . fmt($fv, $funit // $unit) : '-',
		      defined $ratio ? sprintf('%.3fx', $ratio) : '-', $target,
		      defined $pass ? ($pass ? 'PASS' : 'MISS') : '' ];
}
my $tcp = $inval ? $inval->{tcp_rtt_us}{p50} : undef;
for my $k ('1p-madvise', '512p-madvise', '1p-munmap', '1g-madvise') {
	my $s = $series{$k} or next;
	my $label = { '1p-madvise' => '1 page, MADV_DONTNEED', '512p-madvise' => '512 pages, MADV_DONTNEED',
		      '1p-munmap' => '1 page, munmap', '1g-madvise' => '1 GiB (peer maps 8 pages), MADV_DONTNEED' }->{$k};
	my $tgt = $k ne '1g-madvise';
	row("inval->ack $label p50 (n=$s->{samples})", $s->{remote_us}{p50}, 'us', 'fi_pingpong RTT', $rtt,
	    'us', $tgt ? 1.5 : undef);
	row("inval->ack $label p99", $s->{remote_us}{p99}, 'us', 'fi_pingpong RTT', $rtt, 'us',
	    $tgt ? 3 : undef);
	row("inval->ack $label p50 vs TCP socket RTT", $s->{remote_us}{p50}, 'us', 'TCP RTT p50', $tcp, 'us');
	row("inval->ack $label p99 vs TCP socket RTT p99", $s->{remote_us}{p99}, 'us', 'TCP RTT p99',
	    $inval->{tcp_rtt_us}{p99}, 'us');
}
if (my $g = $series{'1g-madvise'}) {
	my $per = $g->{msgs_per_invalidation_per_peer};
	push @rows, [ "1 GiB: INVALIDATE messages per invalidation per peer (n=$g->{samples})",
		      sprintf('%.3f (sent %d, retx %d, peer zaps %d)', $per, $g->{invalidate_msgs},
			      $g->{retransmits}, $g->{peer_zaps}), 'exactly 1', '-', '= 1',
		      ($per == 1 && $g->{peer_zaps} == $g->{samples}) ? 'PASS' : 'MISS' ];
	row('1 GiB invalidation p50 vs 1 page', $g->{remote_us}{p50}, 'us', '1 page p50',
	    $series{'1p-madvise'} ? $series{'1p-madvise'}{remote_us}{p50} : undef, 'us', 2);
}
for my $k ('1p-madvise', '512p-madvise') {
	my $s = $series{$k} or next;
	row("MADV_DONTNEED $s->{range_pages} page(s), exported, no remote mapping p50",
	    $s->{no_remote_mapping_us}{p50}, 'us', 'with remote mapping', $s->{remote_us}{p50}, 'us');
}
for my $m (@munmap) {
	row("munmap $m->{pages} page(s) exported, no remote mapping p50 (n=$m->{samples})",
	    $m->{exported_ns}{p50} / 1000, 'us', 'unexported', $m->{unexported_ns}{p50} / 1000, 'us', 1.05);
}
if ($fault) {
	my %local;
	for my $c (@{$fault->{cases}}) {
		row("remote first touch, $c->{source} source, window $c->{window}", $c->{remote_ns_per_page} / 1000,
		    'us/page', 'local attach', $c->{local_ns_per_page} / 1000, 'us/page');
	}
	my ($w1) = grep { $_->{source} eq '4k' && $_->{window} == 1 } @{$fault->{cases}};
	row('remote first touch 4k, window 1, vs fi_pingpong RTT', $w1->{remote_ns_per_page} / 1000, 'us/page',
	    'fi_pingpong RTT', $rtt, 'us') if $w1;
}
if ($copy) {
	row('copy through remote attachment', $copy->{remote_attach_gbs}, 'GB/s', 'local memcpy',
	    $copy->{memcpy_gbs}, 'GB/s');
	row('copy through local attachment', $copy->{local_attach_gbs}, 'GB/s', 'local memcpy',
	    $copy->{memcpy_gbs}, 'GB/s');
	row('copy remote vs local attachment', $copy->{remote_attach_gbs}, 'GB/s', 'local attachment',
	    $copy->{local_attach_gbs}, 'GB/s');
}
if ($fanout) {
	my ($one) = grep { $_->{peers} == 1 } @{$fanout->{results}};
	for my $r (@{$fanout->{results}}) {
		row("fan-out (host, loopback) $r->{peers} peer(s) p50 (n=$r->{samples})", $r->{us}{p50}, 'us',
		    '1 peer', $one ? $one->{us}{p50} : undef, 'us', $r->{peers} == 8 ? 1.3 : undef);
		row("fan-out $r->{peers} peer(s) p99", $r->{us}{p99}, 'us', '1 peer p99',
		    $one ? $one->{us}{p99} : undef, 'us') if $r->{peers} != 1;
		push @problems, "fan-out $r->{peers} peers: $r->{not_acked} invalidation(s) not acked"
			if $r->{not_acked};
	}
}

my @hdr = ('measure', 'value', 'floor', 'ratio', 'target', '');
my $md = '| ' . join(' | ', @hdr) . " |\n|" . join('|', map { '---' } @hdr) . "|\n";
$md .= '| ' . join(' | ', @$_) . " |\n" for @rows;
my @targets = map { { measure => $_->[0], value => $_->[1], floor => $_->[2], ratio => $_->[3],
		      target => $_->[4], result => $_->[5] } } grep { $_->[5] } @rows;
save('targets.json', { targets => \@targets, problems => \@problems });
my $misses = grep { $_->{result} eq 'MISS' } @targets;
# distributions: every latency series with p50/p90/p99/max
my $dist = "\n| latency distribution | samples | p50 us | p90 us | p99 us | max us |\n|---|---|---|---|---|---|\n";
my $drow = sub { my ($n, $c, $d) = @_; $dist .= sprintf("| %s | %d | %.0f | %.0f | %.0f | %.0f |\n", $n, $c, @$d{qw(p50 p90 p99 max)}); };
for my $t (grep { $pp{$_} } 'before', 'after', 'once') {
	$dist .= sprintf("| fi_pingpong round trip, %s (2 x usec/xfer; a mean) | %s | %.0f | | | |\n", $t, $pp{$t}{iterations}, 2 * $pp{$t}{usec_per_xfer});
}
$drow->('TCP socket round trip, same link', $inval->{tcp_rtt_us}{samples}, $inval->{tcp_rtt_us}) if $inval;
for my $k ('1p-madvise', '512p-madvise', '1g-madvise', '1p-munmap') {
	my $s = $series{$k} or next;
	$drow->("inval->ack $s->{range} $s->{op}", $s->{samples}, $s->{remote_us});
	$drow->("$s->{range} $s->{op}, exported, no remote mapping", $s->{samples}, $s->{no_remote_mapping_us});
}
if ($fanout) {
	$drow->("fan-out $_->{peers} peer(s) (host loopback)", $_->{samples}, $_->{us}) for @{$fanout->{results}};
}
$md .= $dist;
my $notes = '';
$notes .= sprintf("\nFloor: fi_pingpong -p tcp -e rdm -S 64 (tcp;ofi_rxm, %s iterations; %s) mean %.1f usec/xfer = %.0f us round trip " .
		  "(fabtests reports half a round trip). fi_pingpong busy-polls its completion queue; xpmemd sleeps in epoll.\n",
		  $pp->{iterations}, join(', ', map { $pp{$_} ? sprintf('%s the xpmem figures %.1f usec/xfer', $_, $pp{$_}{usec_per_xfer}) : () } 'before', 'after'),
		  $pp->{usec_per_xfer}, $rtt) if $pp;
$notes .= sprintf("TCP socket ping-pong (blocking read/write, same link, same boot): p50 %.0f us, p99 %.0f us.\n",
		  $inval->{tcp_rtt_us}{p50}, $inval->{tcp_rtt_us}{p99}) if $inval;
$notes .= "Cluster figures: 2 QEMU TCG partitions (1 vCPU each) on a shared 2-core host; fan-out: daemons on the host's " .
	  "loopback, simulated kernels in one process. Compare ratios, not absolutes.\n";
my $bus = ($fault ? $fault->{sigbus_retries} // 0 : 0);
$bus += $_->{peer_sigbus_retries} // 0 for values %series;
$notes .= sprintf("WARNING: partition 1 got SIGBUS %d time(s): a remote fault failed (its daemon's ack_timeout_ms " .
		  "expired, or it declared the owner dead after late heartbeats on the loaded host); it retried every 0.2 s. " .
		  "First-touch figures include the retries; invalidation samples do not (only the owner's call is timed).\n", $bus) if $bus;
$notes .= sprintf("%d target(s) missed.\n", $misses);
$notes .= "PROBLEMS: " . join('; ', @problems) . "\n" if @problems;
open(my $fh, '>', "$out/summary.md") or die "$out/summary.md: $!\n";
print $fh "# make bench\n\n$md$notes";
close $fh;
print $md, $notes;

# ---- CDF plot ----
my @curves;	# [file, title, panel]
my $dat = "$out/cdf";
mkdir $dat;
sub cdf {
	my ($name, $title, $panel, @v) = @_;
	return unless @v;
	open(my $fh, '>', "$dat/$name.dat") or die "$dat/$name.dat: $!\n";
	printf $fh "%s %.5f\n", $v[$_], ($_ + 1) / @v for 0 .. $#v;
	close $fh;
	push @curves, [ "$dat/$name.dat", $title, $panel ];
}
cdf('inval-1p', 'inval->ack 1 page (MADV\_DONTNEED)', 1, samples("$raw/inval-1p-madvise.txt"));
cdf('inval-512p', 'inval->ack 512 pages', 1, samples("$raw/inval-512p-madvise.txt"));
cdf('inval-1g', 'inval->ack 1 GiB (8 pages mapped)', 1, samples("$raw/inval-1g-madvise.txt"));
cdf('inval-1p-munmap', 'inval->ack 1 page (munmap)', 1, samples("$raw/inval-1p-munmap.txt"));
cdf('tcp-rtt', 'TCP socket RTT (same link)', 1, samples("$raw/tcp-rtt.txt"));
cdf('inval-1p-local', '1 page, no remote mapping', 1, samples("$raw/inval-1p-madvise-local.txt"));
if ($fanout) {
	for my $r (@{$fanout->{results}}) {
		cdf("fanout-$r->{peers}", "$r->{peers} peer(s)", 2, sort { $a <=> $b } @{$r->{raw_us}});
	}
}
if (@curves && system('command -v gnuplot >/dev/null 2>&1') == 0) {
	my $gp = "set terminal pngcairo size 1400,560 font 'sans,10'\nset output '$out/latency-cdf.png'\n" .
		 "set multiplot layout 1,2\nset logscale x\nset grid\nset key bottom right\nset ylabel 'fraction of samples'\n" .
		 "set yrange [0:1]\n";
	$gp .= sprintf("set arrow 1 from %f, graph 0 to %f, graph 1 nohead dt 2 lc rgb 'red'\n" .
		       "set label 1 'fi\\_pingpong RTT' at %f, graph 0.5 rotate by 90 offset -1,0 tc rgb 'red'\n",
		       $rtt, $rtt, $rtt) if $rtt;
	$gp .= "set title 'invalidation -> ack, 2 partitions (QEMU TCG)'\nset xlabel 'microseconds'\n";
	my @p1 = grep { $_->[2] == 1 } @curves;
	$gp .= 'plot ' . join(', ', map { "'$_->[0]' using 1:2 with lines lw 2 title '$_->[1]'" } @p1) . "\n";
	$gp .= "unset arrow 1\nunset label 1\nset title 'fan-out: invalidation -> all acks (host loopback, simulated kernels)'\n";
	my @p2 = grep { $_->[2] == 2 } @curves;
	$gp .= 'plot ' . join(', ', map { "'$_->[0]' using 1:2 with lines lw 2 title '$_->[1]'" } @p2) . "\n" if @p2;
	$gp .= "unset multiplot\n";
	open(my $g, '|-', 'gnuplot') or die "gnuplot: $!\n";
	print $g $gp;
	close $g or push @problems, 'gnuplot failed';
	push @problems, 'latency-cdf.png not written' unless -s "$out/latency-cdf.png";
} else {
	push @problems, 'no gnuplot (install gnuplot-nox) or no samples: latency-cdf.png not written';
}
if (@problems) {
	print STDERR "report: $_\n" for @problems;
	exit 1;
}
exit 0;

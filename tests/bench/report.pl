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
# Its elapsed time includes its connection setup (a fixed 0.1-0.6 s), so each
# floor phase (the phases alternate in time with the xpmem samples) runs it
# twice: N iterations (pingpong-b<block>-{client,server}.txt) and 10
# (pingpong-b<block>-short-*.txt). Per block: the long run's round trip as
# fabtests reports it (setup included), and the setup-free one from the
# difference, (elapsed_N - elapsed_10) / (N - 10). The floor is the median of
# the blocks' setup-free round trips; min and max its spread.
sub ppline {
	my ($f) = @_;
	my $s = slurp($f) // '';
	for (split /\n/, $s) {
		my @f = split;
		return { usec_per_xfer => $f[6] + 0, iterations => $f[1] }
			if @f >= 8 && $f[0] eq '64' && $f[6] =~ /^[0-9.]+$/;
	}
	return undef;
}
sub iters { my ($t) = @_; $t =~ /^([0-9.]+)k$/ ? $1 * 1000 : $t + 0 }
my (@ppblocks, $ppiters);
for my $f (glob("$raw/pingpong-b*-client.txt")) {
	my ($blk) = $f =~ /pingpong-b(\d+)-client\.txt$/;
	next unless defined $blk;
	my $long = ppline($f) // ppline("$raw/pingpong-b$blk-server.txt");
	my $short = ppline("$raw/pingpong-b$blk-short-client.txt") // ppline("$raw/pingpong-b$blk-short-server.txt");
	next unless $long;
	my $n = iters($long->{iterations});
	my $b = { block => $blk + 0, iterations => $n, usec_per_xfer => $long->{usec_per_xfer},
		  round_trip_with_setup_us => 2 * $long->{usec_per_xfer} };
	if ($short && $n > iters($short->{iterations})) {
		my $ns = iters($short->{iterations});
		$b->{short_iterations} = $ns;
		$b->{short_usec_per_xfer} = $short->{usec_per_xfer};
		$b->{setup_ms} = (2 * $ns * $short->{usec_per_xfer} - 2 * $ns *
				  (2 * $n * $long->{usec_per_xfer} - 2 * $ns * $short->{usec_per_xfer}) / (2 * ($n - $ns))) / 1000;
		$b->{round_trip_us} = (2 * $n * $long->{usec_per_xfer} - 2 * $ns * $short->{usec_per_xfer}) / ($n - $ns);
	}
	$ppiters //= $n;
	push @ppblocks, $b;
}
@ppblocks = sort { $a->{block} <=> $b->{block} } @ppblocks;
sub median { my @v = sort { $a <=> $b } @_; return undef unless @v; return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2; }
sub minmax { my @v = sort { $a <=> $b } @_; return @v ? ($v[0], $v[-1]) : (undef, undef); }
my $rtt = median(map { $_->{round_trip_us} // () } @ppblocks);
my ($rttmin, $rttmax) = minmax(map { $_->{round_trip_us} // () } @ppblocks);
my $rttraw = median(map { $_->{round_trip_with_setup_us} } @ppblocks);
my ($rawmin, $rawmax) = minmax(map { $_->{round_trip_with_setup_us} } @ppblocks);
push @problems, "fi_pingpong: no result (pingpong-b*-client.txt)" unless @ppblocks;
push @problems, "fi_pingpong: no setup-free round trip (short runs missing or not shorter)" if @ppblocks && !defined $rtt;

my %series;
if ($inval) {
	$series{"$_->{range}-$_->{op}"} = $_ for @{$inval->{series}};
}

# ---- per-part JSON ----
save('inval.json', $inval) if $inval;
my $floor = {
	bench => 'floor',
	fi_pingpong => @ppblocks ? {
		command => 'fi_pingpong -p tcp -e rdm -I N -S 64 (server on partition 0, client on partition 1), once per floor block',
		round_trip_us => { median => $rtt, min => $rttmin, max => $rttmax },
		round_trip_with_setup_us => { median => $rttraw, min => $rawmin, max => $rawmax },
		note => 'fabtests usec/xfer = elapsed / (iterations * 2), i.e. half a round trip; elapsed includes the connection setup: round_trip_us is (elapsed_N - elapsed_10) / (N - 10) per block',
		blocks => \@ppblocks,
	} : undef,
	tcp_socket_rtt_us => $inval ? $inval->{tcp_rtt_us} : undef,
	tcp_block_p50_us => $inval ? $inval->{tcp_block_p50_us} : undef,
	block_order => $inval ? $inval->{block_order} : undef,
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
my $tcp99 = $inval ? $inval->{tcp_rtt_us}{p99} : undef;
# a row with a text verdict: [measure, value, floor, ratio, target, PASS/MISS/'' ]
sub trow { push @rows, [ @_ ]; }
my $lbl = { '1p-madvise' => '1 page, MADV_DONTNEED', '512p-madvise' => '512 pages, MADV_DONTNEED',
	    '1p-munmap' => '1 page, munmap', '1g-madvise' => '1 GiB (peer maps 8 pages), MADV_DONTNEED' };
# issue 13: inval->ack against both floors measured in the same blocks
if (my $s = $series{'1p-madvise'}) {
	my $l = $lbl->{'1p-madvise'};
	row("inval->ack $l p50 (n=$s->{samples}) vs TCP ping-pong p50", $s->{remote_us}{p50}, 'us',
	    'TCP RTT p50', $tcp, 'us', 2);
	row("inval->ack $l p50 vs fi_pingpong RTT (setup excluded, median of blocks)", $s->{remote_us}{p50}, 'us',
	    'fi_pingpong RTT', $rtt, 'us', 1.3);
	row("  same vs fi_pingpong RTT as fabtests reports it (setup included, median of blocks)",
	    $s->{remote_us}{p50}, 'us', 'fi_pingpong RTT', $rttraw, 'us');
	row("inval->ack $l p99 vs TCP ping-pong p99", $s->{remote_us}{p99}, 'us', 'TCP RTT p99', $tcp99,
	    'us', 3);
	my @bp = @{$s->{block_p50_us} // []};
	my @bt = @{$inval->{tcp_block_p50_us} // []};
	my @r = map { $bt[$_] ? $bp[$_] / $bt[$_] : () } 0 .. $#bp;
	my ($lo, $hi) = minmax(@r);
	trow("  same p50 / TCP p50, block by block (min - max over $inval->{blocks} blocks)",
	     defined $lo ? sprintf('%.2fx - %.2fx', $lo, $hi) : 'n/a', '-', '-', '', '') if @r;
}
if (my $s = $series{'512p-madvise'}) {
	row("inval->ack 512 pages p50 (n=$s->{samples}) vs 1 page p50", $s->{remote_us}{p50}, 'us', '1 page p50',
	    $series{'1p-madvise'} ? $series{'1p-madvise'}{remote_us}{p50} : undef, 'us', 1.5);
	row("inval->ack 512 pages p99 vs TCP p99", $s->{remote_us}{p99}, 'us', 'TCP RTT p99', $tcp99, 'us');
}
if (my $s = $series{'1p-munmap'}) {
	row("inval->ack 1 page, munmap p50 (n=$s->{samples}) vs TCP p50", $s->{remote_us}{p50}, 'us',
	    'TCP RTT p50', $tcp, 'us');
	row("inval->ack 1 page, munmap p99 vs TCP p99", $s->{remote_us}{p99}, 'us', 'TCP RTT p99', $tcp99, 'us');
}
if (my $g = $series{'1g-madvise'}) {
	my $per = $g->{msgs_per_invalidation_per_peer};
	if (defined $per) {
		trow("1 GiB: INVALIDATE messages per invalidation per peer (n=$g->{samples})",
		     sprintf('%.3f (sent %d, retx %d, peer zaps %d)', $per, $g->{invalidate_msgs},
			     $g->{retransmits}, $g->{peer_zaps}), 'exactly 1', '-', '= 1',
		     ($per == 1 && $g->{peer_zaps} == $g->{samples}) ? 'PASS' : 'MISS');
	} else {
		trow('1 GiB: INVALIDATE messages per invalidation per peer', 'n/a (daemon counters unreadable)',
		     'exactly 1', '-', '= 1', 'MISS');
	}
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
my %fc;
if ($fault) {
	$fc{$_->{case}} = $_ for @{$fault->{cases}};
	my $rt = sub { my ($c) = @_; defined $c->{round_trips} && $c->{round_trips} >= 0 ?
		       sprintf(', %d round trips', $c->{round_trips}) : '' };
	if (my $c = $fc{seq}) {
		row("remote first touch, 64 MiB sequential, 4 KiB source (window base $c->{window}, adaptive" .
		    $rt->($c) . ')', $c->{remote_ns_per_page} / 1000, 'us/page', 'local attach',
		    $c->{local_ns_per_page} / 1000, 'us/page', 3);
	}
	if (my $c = $fc{thp}) {
		my $pmd = ($fault->{map_pmd} // '') eq 'Y' ? 'remote PMD mappings on' :
			  "no remote PMD mappings (map_pmd=" . ($fault->{map_pmd} || '?') . ", kernel $fault->{kernel}; they need >= 6.12)";
		row("remote first touch, 64 MiB sequential, THP source ($pmd" . $rt->($c) . ')',
		    $c->{remote_ns_per_page} / 1000, 'us/page', 'local THP attach', $c->{local_ns_per_page} / 1000,
		    'us/page', 3);
	}
	if (my $c = $fc{w16}) {
		row("remote first touch, window held at 16 (every 17th page; per page mapped" . $rt->($c) . ')',
		    $c->{remote_ns_per_page} / 1000, 'us/page', 'local attach, sequential',
		    $fc{seq} ? $fc{seq}{local_ns_per_page} / 1000 : undef, 'us/page');
	}
	if (my $c = $fc{random}) {
		row("remote first touch, 64 MiB in random order" . $rt->($c) . ", vs window-16 sequential",
		    $c->{remote_ns_per_page} / 1000, 'us/page', 'window 16', $fc{w16} ? $fc{w16}{remote_ns_per_page} / 1000 : undef,
		    'us/page', 1);
		row("remote first touch, random order, vs local attach in random order", $c->{remote_ns_per_page} / 1000,
		    'us/page', 'local attach', $c->{local_ns_per_page} / 1000, 'us/page') if $c->{local_ns_per_page};
	}
}
if ($copy) {
	row('copy through remote attachment vs local attachment', $copy->{remote_attach_gbs}, 'GB/s', 'local attachment',
	    $copy->{local_attach_gbs}, 'GB/s', 0.95, '>=');
	row('copy through remote attachment vs local memcpy', $copy->{remote_attach_gbs}, 'GB/s', 'local memcpy',
	    $copy->{memcpy_gbs}, 'GB/s');
	row('copy through local attachment vs local memcpy', $copy->{local_attach_gbs}, 'GB/s', 'local memcpy',
	    $copy->{memcpy_gbs}, 'GB/s');
}
if ($fanout) {
	my ($one) = grep { $_->{peers} == 1 } @{$fanout->{results}};
	my $nproc = $fanout->{nproc} // 0;
	for my $r (@{$fanout->{results}}) {
		my $k = $r->{peers};
		row("fan-out $k peer(s): owner daemon CPU per invalidation (n=$r->{samples})",
		    $r->{owner_cpu_us_per_invalidation} >= 0 ? $r->{owner_cpu_us_per_invalidation} : undef, 'us',
		    '1 peer', $one && $one->{owner_cpu_us_per_invalidation} >= 0 ? $one->{owner_cpu_us_per_invalidation} : undef,
		    'us', $k == 8 ? 3 : undef);
	}
	my @proof = map { my $r = $_; [ $r->{peers}, [ map { $_->{peers_zapped_with_acks_held} } @{$r->{proof_trials} // []} ] ] }
		    @{$fanout->{results}};
	my $ok = @proof && !grep { my ($k, $t) = @$_; !@$t || grep { $_ != $k } @$t } @proof;
	trow('fan-out: all k INVALIDATEs leave before any ack (peers\' kernels hold ZAP_DONE; ZAPs seen per trial)',
	     join(' ', map { "$_->[0]: " . join('/', @{$_->[1]}) } @proof), 'k of k', '-', '= k every trial',
	     $ok ? 'PASS' : 'MISS');
	for my $r (@{$fanout->{results}}) {
		my $k = $r->{peers};
		my $judged = $nproc >= $k + 2;
		row("fan-out (host, loopback) $k peer(s) wall clock p50 (n=$r->{samples})" .
		    ($k == 8 && !$judged ? " [not judged: the host has $nproc cores, a verdict needs >= " . ($k + 2) . ']' : ''),
		    $r->{us}{p50}, 'us', '1 peer', $one ? $one->{us}{p50} : undef, 'us', $k == 8 && $judged ? 1.3 : undef);
		push @problems, "fan-out $k peers: $r->{not_acked} invalidation(s) not acked" if $r->{not_acked};
	}
	# poll_us, measured both ways (no target: it trades a core for latency)
	if (my $p = $fanout->{poll}) {
		my ($on, $off) = ($p->{on}, $p->{off});
		row("1 peer inval->ack p50, poll_us $p->{poll_us} vs 0 ($p->{blocks} interleaved blocks, n=$on->{samples})",
		    $on->{us}{p50}, 'us', 'poll_us 0', $off->{us}{p50}, 'us');
		row("1 peer inval->ack p99, poll_us $p->{poll_us} vs 0", $on->{us}{p99}, 'us', 'poll_us 0',
		    $off->{us}{p99}, 'us');
		row("owner daemon CPU per invalidation, poll_us $p->{poll_us} vs 0", $on->{owner_cpu_us_per_invalidation},
		    'us', 'poll_us 0', $off->{owner_cpu_us_per_invalidation}, 'us');
	}
}

my @hdr = ('measure', 'value', 'floor', 'ratio', 'target', '');
my $md = '| ' . join(' | ', @hdr) . " |\n|" . join('|', map { '---' } @hdr) . "|\n";
$md .= '| ' . join(' | ', @$_) . " |\n" for @rows;

# per-stage breakdown (means): where a round trip's time goes
my @stages;	# [what, stage, us]
if (my $s = $series{'1p-madvise'}) {
	my $st = $s->{stages_us};
	my $tot = $s->{remote_us}{mean};
	if ($st && defined $tot) {
		push @stages, [ 'invalidation, 1 page (mean)', 'total: madvise on the owner', $tot ],
			[ '', 'owner kernel + channel (total - owner daemon)', $tot - $st->{owner_daemon} ],
			[ '', 'fabric both ways + both daemons\' loops (owner daemon - peer daemon)', $st->{owner_daemon} - $st->{peer_daemon} ],
			[ '', 'peer daemon + channel + peer kernel zap (INVALIDATE in -> ZAP_DONE)', $st->{peer_daemon} ],
			[ '', 'for scale: TCP ping-pong p50 / fi_pingpong RTT', sprintf('%s / %s', fmt($tcp, 'us'), fmt($rtt, 'us')) ];
	} else {
		push @stages, [ 'invalidation', 'n/a: the daemons have no stage times (t_inval/t_zap)', undef ];
	}
}
for my $case ('w16', 'seq') {
	my $c = $fc{$case} or next;
	my $name = $case eq 'w16' ? 'remote fault, window 16 (per round trip)' : 'remote fault, sequential adaptive (per round trip)';
	if (($c->{us_per_round_trip} // -1) > 0 && ($c->{importer_daemon_us} // -1) >= 0 && ($c->{owner_daemon_us} // -1) >= 0) {
		push @stages, [ $name, "total: touch time / round trips ($c->{round_trips})", $c->{us_per_round_trip} ],
			[ '', 'attacher kernel + channel + PTE install (total - attacher daemon)', $c->{us_per_round_trip} - $c->{importer_daemon_us} ],
			[ '', 'fabric both ways + both daemons\' loops (attacher daemon - owner daemon)', $c->{importer_daemon_us} - $c->{owner_daemon_us} ],
			[ '', 'owner daemon + channel + owner kernel RESOLVE', $c->{owner_daemon_us} ];
	} else {
		push @stages, [ $name, 'n/a: no round trips counted or no stage times (t_rfault/t_resolve)', undef ];
	}
}
my $stmd = '';
if (@stages) {
	$stmd = "\n| per-stage breakdown (means; explains the misses above) | stage | us |\n|---|---|---|\n";
	$stmd .= sprintf("| %s | %s | %s |\n", $_->[0], $_->[1], !defined $_->[2] ? '' : $_->[2] =~ /^-?[0-9.e+-]+$/ ? sprintf('%.1f', $_->[2]) : $_->[2]) for @stages;
}
my @targets = map { { measure => $_->[0], value => $_->[1], floor => $_->[2], ratio => $_->[3],
		      target => $_->[4], result => $_->[5] } } grep { $_->[5] } @rows;
save('targets.json', { targets => \@targets, problems => \@problems,
		       stages => [ map { { measure => $_->[0], stage => $_->[1], us => $_->[2] } } @stages ] });
my $misses = grep { $_->{result} eq 'MISS' } @targets;
# distributions: every latency series with p50/p90/p99/max
my $dist = "\n| latency distribution | samples | p50 us | p90 us | p99 us | max us |\n|---|---|---|---|---|---|\n";
my $drow = sub { my ($n, $c, $d) = @_; $dist .= sprintf("| %s | %d | %.0f | %.0f | %.0f | %.0f |\n", $n, $c, @$d{qw(p50 p90 p99 max)}); };
$dist .= sprintf("| fi_pingpong round trip, setup excluded: median (min - max) of %d blocks | %d x %s | %.0f (%.0f - %.0f) | | | |\n",
		 scalar @ppblocks, scalar @ppblocks, $ppiters // '?', $rtt, $rttmin, $rttmax) if defined $rtt;
$dist .= sprintf("| fi_pingpong round trip as reported (setup included): median (min - max) | %d x %s | %.0f (%.0f - %.0f) | | | |\n",
		 scalar @ppblocks, $ppiters // '?', $rttraw, $rawmin, $rawmax) if defined $rttraw;
$drow->('TCP socket round trip, same link, same blocks', $inval->{tcp_rtt_us}{samples}, $inval->{tcp_rtt_us}) if $inval;
if ($inval && $inval->{tcp_block_p50_us}) {
	my ($lo, $hi) = minmax(@{$inval->{tcp_block_p50_us}});
	$dist .= sprintf("| TCP round trip p50, spread over blocks | %d blocks | | | | %.0f - %.0f |\n",
			 scalar @{$inval->{tcp_block_p50_us}}, $lo, $hi) if defined $lo;
}
for my $k ('1p-madvise', '512p-madvise', '1g-madvise', '1p-munmap') {
	my $s = $series{$k} or next;
	$drow->("inval->ack $s->{range} $s->{op}", $s->{samples}, $s->{remote_us});
	my ($lo, $hi) = minmax(@{$s->{block_p50_us} // []});
	$dist .= sprintf("| inval->ack $s->{range} $s->{op} p50, spread over blocks | | | | | %.0f - %.0f |\n", $lo, $hi)
		if defined $lo;
	$drow->("$s->{range} $s->{op}, exported, no remote mapping", $s->{samples}, $s->{no_remote_mapping_us});
}
if ($fanout) {
	$drow->("fan-out $_->{peers} peer(s) (host loopback)", $_->{samples}, $_->{us}) for @{$fanout->{results}};
}
$md .= $stmd . $dist;
my $notes = '';
$notes .= sprintf("\nFloors, interleaved in time with the xpmem samples: %d blocks, floor phase first in even blocks, " .
		  "xpmem phase first in odd ones. fi_pingpong -p tcp -e rdm -S 64 (tcp;ofi_rxm, %s iterations per block): " .
		  "median round trip %.0f us, blocks %.0f - %.0f us, from (elapsed of N iterations - elapsed of 10) / (N - 10): " .
		  "fabtests' own figure (2 x usec/xfer) includes the connection setup, median %.0f us here. " .
		  "fi_pingpong busy-polls its completion queue; xpmemd sleeps in epoll.\n",
		  $inval ? $inval->{blocks} : 0, $ppiters // '?', $rtt, $rttmin, $rttmax, $rttraw // -1) if defined $rtt;
$notes .= sprintf("TCP socket ping-pong (blocking read/write, same link, same blocks): p50 %.0f us, p99 %.0f us.\n",
		  $tcp, $tcp99) if $inval;
if ($fault) {
	$notes .= sprintf("First touch: 64 MiB per pass, fresh attachment each pass, best of the passes (sequential: %d " .
			  "each, alternating remote and local); kernel %s, fault_window_pages %s (the adaptive window's floor; " .
			  "no knob pins the window, so the window-16 pass touches every 17th page), local_window_pages %s, " .
			  "map_pmd %s; THP: owner AnonHugePages %s kB, local source %s kB.\n",
			  scalar @{($fc{seq} // {})->{remote_reps} // []}, $fault->{kernel} // '?', $fault->{fault_window_pages} // '?',
			  $fault->{local_window_pages} || '?', $fault->{map_pmd} || '?', $fault->{a_thp_kb} // '?',
			  $fault->{local_thp_kb} // '?');
}
if ($fanout) {
	$notes .= sprintf("Fan-out: owner CPU = run time of the owner xpmemd's threads (schedstat) from simk_invalidate() " .
			  "to ACKED, per invalidation; host has %d cores, so the wall-clock verdict (8 peers <= 1.3x 1 peer) " .
			  "is %s.\n", $fanout->{nproc} // 0, ($fanout->{nproc} // 0) >= 10 ? 'judged' : 'not judged (needs >= 10 cores)');
}
$notes .= "Cluster figures: 2 QEMU TCG partitions (1 vCPU each) on a shared 2-core host; fan-out: daemons on the host's " .
	  "loopback, simulated kernels in one process. Compare ratios, not absolutes. Local targets (first touch and " .
	  "memcpy from an attachment vs upstream and local memcpy): `make bench-local`.\n";
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
		       "set label 1 'fi\\_pingpong RTT (median)' at %f, graph 0.5 rotate by 90 offset -1,0 tc rgb 'red'\n",
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

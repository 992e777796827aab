// party-button enclosure: a box for the big dome button, the Raspberry Pi and the relay board.
//
// Two printable parts, both in print orientation, no supports needed:
//   base - open-top box with standoffs for the Pi and the relay board, cable exits, vent slots;
//   lid  - top plate with the button hole, printed upside down (the locating lip points up).
// Render one with -D, e.g.:
//   openscad -D 'part="lid"' -D button_d=100 -o lid.stl hardware/enclosure.scad
// All sizes are millimetres. Measure your own parts: the defaults fit a Pi 4/5 and a common
// 4-channel 5 V opto-isolated relay module.

/* [Part] */
part = "both"; // [both, base, lid]

/* [Button] */
// Outer diameter of the dome/bezel that rests on the lid (60-100 mm buttons).
button_d = 60;
// Hole for the threaded body; measure your button's body and add 0.5 mm.
button_hole_d = 24 + (button_d - 60) * 0.5;
// How far the button body and its switch reach below the lid.
button_depth = 45;

/* [Raspberry Pi] */
// Pi 4 and Pi 5: 85 x 56 board, M2.5 holes on a 58 x 49 pattern, 3.5 mm from the edge.
pi_size = [85, 56];
pi_holes = [58, 49];
pi_hole_inset = 3.5;
pi_screw_hole_d = 2.2;   // M2.5 self-tapping into plastic

/* [Relay board] */
// A typical 4-channel module: 75 x 55, M3 holes on a 69 x 49 pattern.
relay_size = [75, 55];
relay_holes = [69, 49];
relay_hole_inset = 3;
relay_screw_hole_d = 2.6;   // M3 self-tapping into plastic

/* [Box] */
wall = 2.5;
floor_t = 2.5;
lid_t = 3;
corner_r = 6;
standoff_h = 6;
// Tallest part on either board (the Pi's USB and Ethernet jacks, the relays).
board_clear_h = 20;
// Cable exits sized for a PG9 cable gland (15.2 mm); every mains cable goes through a gland.
cable_exit_d = 15.5;
cable_exits = 3;
vent_slots = 8;
vent_w = 2.5;
vent_h = 24;

/* [Fit] */
clearance = 0.3;
boss_d = 8;
lid_screw_hole_d = 3.4;   // M3 through the lid
boss_screw_hole_d = 2.6;  // M3 self-tapping into the corner bosses
lip_h = 4;
lip_t = 1.6;
part_gap = 10;

$fn = 48;
eps = 0.01;

assert(button_d >= 40 && button_d <= 120, "button_d must be 40..120 mm");
assert(button_hole_d < button_d, "button_hole_d must be smaller than button_d");
assert(wall >= 1.2 && corner_r > wall, "wall must be >= 1.2 mm and smaller than corner_r");

board_margin = 3;
inner_l = 2 * (boss_d + board_margin) + pi_size[0] + board_margin + relay_size[0];
inner_w = max(max(pi_size[1], relay_size[1]) + 2 * board_margin, button_d + 6 - 2 * wall);
inner_h = standoff_h + board_clear_h + button_depth;
outer = [inner_l + 2 * wall, inner_w + 2 * wall, inner_h + floor_t];

pi_origin = [wall + boss_d + board_margin, wall + (inner_w - pi_size[1]) / 2];
relay_origin = [pi_origin[0] + pi_size[0] + board_margin, wall + (inner_w - relay_size[1]) / 2];

module rounded_block(size, r) {
    hull()
        for (x = [r, size[0] - r], y = [r, size[1] - r])
            translate([x, y, 0]) cylinder(r = r, h = size[2]);
}

module hole_pattern(origin, inset, pattern) {
    for (x = [0, pattern[0]], y = [0, pattern[1]])
        translate([origin[0] + inset + x, origin[1] + inset + y, 0]) children();
}

module standoffs(origin, inset, pattern, hole_d) {
    hole_pattern(origin, inset, pattern)
        difference() {
            cylinder(d = hole_d + 3.6, h = floor_t + standoff_h);
            translate([0, 0, floor_t / 2]) cylinder(d = hole_d, h = floor_t + standoff_h);
        }
}

module corner_positions() {
    // Sunk 1 mm into the walls so that bosses and walls fuse instead of touching.
    inset = wall + boss_d / 2 - 1;
    for (x = [inset, outer[0] - inset], y = [inset, outer[1] - inset])
        translate([x, y, 0]) children();
}

module cable_exits() {
    // Evenly along the back wall (y = outer[1]), low enough to clear the lid screws.
    for (i = [0 : cable_exits - 1])
        translate([outer[0] * (i + 1) / (cable_exits + 1), outer[1] - wall - eps,
                   floor_t + standoff_h + cable_exit_d / 2 + 2])
            rotate([-90, 0, 0]) cylinder(d = cable_exit_d, h = wall + 2 * eps);
}

module vent_slots() {
    // Vertical slots in the front wall above the Pi; they print without support.
    span = pi_size[0] - 10;
    pitch = span / max(vent_slots - 1, 1);
    for (i = [0 : vent_slots - 1])
        translate([pi_origin[0] + 5 + i * pitch - vent_w / 2, -eps, floor_t + standoff_h + 4])
            cube([vent_w, wall + 2 * eps, vent_h]);
}

module base() {
    difference() {
        union() {
            difference() {
                rounded_block(outer, corner_r);
                translate([wall, wall, floor_t])
                    rounded_block([inner_l, inner_w, inner_h + eps], corner_r - wall);
            }
            corner_positions() cylinder(d = boss_d, h = outer[2]);
            standoffs(pi_origin, pi_hole_inset, pi_holes, pi_screw_hole_d);
            standoffs(relay_origin, relay_hole_inset, relay_holes, relay_screw_hole_d);
        }
        corner_positions()
            translate([0, 0, outer[2] - 12]) cylinder(d = boss_screw_hole_d, h = 12 + eps);
        cable_exits();
        vent_slots();
    }
}

module lid() {
    // Modelled upside down, as printed: the outer face lies on the bed at z = 0.
    difference() {
        union() {
            rounded_block([outer[0], outer[1], lid_t], corner_r);
            // Locating lip that slides inside the base's walls.
            translate([wall + clearance, wall + clearance, lid_t - eps])
                difference() {
                    rounded_block([inner_l - 2 * clearance, inner_w - 2 * clearance, lip_h],
                                  corner_r - wall - clearance);
                    translate([lip_t, lip_t, -eps])
                        rounded_block([inner_l - 2 * clearance - 2 * lip_t,
                                       inner_w - 2 * clearance - 2 * lip_t, lip_h + 2 * eps],
                                      max(corner_r - wall - clearance - lip_t, 0.5));
                }
        }
        // The lid is mirrored when it is turned over, so the corners stay symmetric.
        corner_positions() {
            translate([0, 0, -eps]) cylinder(d = lid_screw_hole_d, h = lid_t + lip_h + 1);
            translate([0, 0, lid_t]) cylinder(d = boss_d + 2 * clearance, h = lip_h + 1);
        }
        translate([outer[0] / 2, outer[1] / 2, -eps])
            cylinder(d = button_hole_d, h = lid_t + lip_h + 1);
    }
}

if (part == "base" || part == "both") base();
if (part == "lid") lid();
if (part == "both") translate([0, -outer[1] - part_gap, 0]) lid();
